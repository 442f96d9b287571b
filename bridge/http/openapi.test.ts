/** The OpenAPI document is generated from the validating schemas and matches the routes that exist. */
import { describe, expect, it } from 'vitest';
import type { Router } from 'express';
import { resolveConfig } from '../config.ts';
import { manageRouter, userRouter } from './routes.ts';
import { openApiDocument, ROUTES } from './openapi.ts';
import { startBridge } from '../../test/harness.ts';

/** The (method, path) pairs a router registers, with `prefix` in front. */
function registered(router: Router, prefix: string): string[] {
  const out: string[] = [];
  for (const layer of (router as unknown as { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> }).stack) {
    if (layer.route === undefined) continue;
    for (const method of Object.keys(layer.route.methods)) out.push(`${method} ${prefix}${layer.route.path}`);
  }
  return out;
}

describe('OpenAPI', () => {
  it('documents exactly the routes the routers register', () => {
    const services = { config: resolveConfig({ databaseFile: ':memory:' }) } as never;
    const actual = [...registered(userRouter(services, {} as never, {} as never), '/v1'), ...registered(manageRouter(services, {} as never), '/manage/v1')];
    const documented = ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(documented.sort()).toEqual(actual.sort());
  });

  it('is served at /v1/openapi.json, with schemas from zod and the security of each route', async () => {
    const t = await startBridge();
    try {
      const doc = (await (await fetch(`${t.bridge.url}/v1/openapi.json`)).json()) as {
        openapi: string;
        paths: Record<
          string,
          Record<
            string,
            {
              security: unknown[];
              parameters: Array<{ name: string; in: string }>;
              requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
            }
          >
        >;
      };
      expect(doc.openapi).toBe('3.1.0');
      const session = doc.paths['/v1/auth/session']!.post!;
      expect(session.security).toEqual([]);
      expect(Object.keys(session.requestBody!.content['application/json']!.schema.properties).sort()).toEqual(
        ['bridgeUrl', 'nonce', 'publicKey', 'signature', 'solutionId', 'timestamp'].sort(),
      );
      const read = doc.paths['/v1/rooms/{roomId}']!.get!;
      expect(read.security).toEqual([{ session: [] }]);
      expect(read.parameters).toEqual(
        expect.arrayContaining([expect.objectContaining({ name: 'roomId', in: 'path' }), expect.objectContaining({ name: 'since', in: 'query' })]),
      );
      expect(doc.paths['/manage/v1/api-keys']!.post!.security).toEqual([{ apiKey: [] }]);
      expect(JSON.stringify(openApiDocument('x'))).not.toContain('"$schema"');
    } finally {
      await t.close();
    }
  });
});
