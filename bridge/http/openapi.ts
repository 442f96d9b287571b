/**
 * The OpenAPI 3.1 description of `/v1` and `/manage/v1`, generated from the zod schemas that validate
 * each route (zod 4's JSON Schema output), so the document cannot say something the Bridge does not
 * check. Served at `GET /v1/openapi.json`; `bridge/http/openapi.test.ts` checks it against the routes
 * the routers register, both ways.
 */
import * as z from 'zod';
import {
  addContextUserRequestSchema,
  apiKeyInfoSchema,
  challengeRequestSchema,
  challengeResponseSchema,
  contextSchema,
  contextUserSchema,
  contextUsersResponseSchema,
  directoryQuerySchema,
  createApiKeyRequestSchema,
  createContextRequestSchema,
  createdApiKeySchema,
  createRoomRequestSchema,
  createSolutionRequestSchema,
  getRoomQuerySchema,
  listRoomsQuerySchema,
  listRoomsResponseSchema,
  manageRoomSchema,
  meResponseSchema,
  roomResponseSchema,
  roomWriteResponseSchema,
  sessionRequestSchema,
  sessionResponseSchema,
  solutionSchema,
  updateRoomRequestSchema,
} from '../../protocol/api.ts';
import { apiKeyParams, contextParams, manageUsersQuery, pageQuery, roomParams, solutionParams, userParams } from './routes.ts';

/** Classic (the Bridge's own) or zod/mini (protocol/): `z.toJSONSchema` reads both. */
type Schema = z.core.$ZodType;
type Auth = 'none' | 'session' | 'apiKey';

export interface RouteDoc {
  method: 'get' | 'post' | 'put' | 'delete';
  /** Express form, `/v1/rooms/:roomId`. */
  path: string;
  summary: string;
  auth: Auth;
  params?: Schema;
  query?: Schema;
  body?: Schema;
  /** The success status and its body (none for 204). */
  status: 200 | 201 | 204;
  response?: Schema;
}

const list = (key: string, item: Schema): Schema => z.object({ [key]: z.array(item) });

/** Every route, in the order the routers register them. */
export const ROUTES: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/auth/challenge',
    summary: 'A login nonce for a key (stateless, 60 s)',
    auth: 'none',
    body: challengeRequestSchema,
    status: 200,
    response: challengeResponseSchema,
  },
  {
    method: 'post',
    path: '/v1/auth/session',
    summary: 'Log in with a signed challenge',
    auth: 'none',
    body: sessionRequestSchema,
    status: 201,
    response: sessionResponseSchema,
  },
  { method: 'post', path: '/v1/auth/logout', summary: 'End this session', auth: 'session', status: 204 },
  { method: 'get', path: '/v1/me', summary: 'Who this session is', auth: 'session', status: 200, response: meResponseSchema },
  {
    method: 'get',
    path: '/v1/contexts/:contextId/users',
    summary: 'The context directory, a page of users at a time (with former keys on ?history=true), or the users named',
    auth: 'session',
    params: contextParams,
    query: directoryQuerySchema,
    status: 200,
    response: contextUsersResponseSchema,
  },
  {
    method: 'get',
    path: '/v1/contexts/:contextId/rooms',
    summary: 'List rooms, each with its head record and your key',
    auth: 'session',
    params: contextParams,
    query: listRoomsQuerySchema,
    status: 200,
    response: listRoomsResponseSchema,
  },
  {
    method: 'post',
    path: '/v1/rooms',
    summary: 'Create a room (version 1)',
    auth: 'session',
    body: createRoomRequestSchema,
    status: 201,
    response: roomWriteResponseSchema,
  },
  {
    method: 'get',
    path: '/v1/rooms/:roomId',
    summary: "A room's records after `since`, and your wrapped keys",
    auth: 'session',
    params: roomParams,
    query: getRoomQuerySchema,
    status: 200,
    response: roomResponseSchema,
  },
  {
    method: 'put',
    path: '/v1/rooms/:roomId',
    summary: "A room's next version",
    auth: 'session',
    params: roomParams,
    body: updateRoomRequestSchema,
    status: 200,
    response: roomWriteResponseSchema,
  },
  { method: 'delete', path: '/v1/rooms/:roomId', summary: 'Delete a room', auth: 'session', params: roomParams, status: 204 },
  {
    method: 'post',
    path: '/manage/v1/solutions',
    summary: 'Create a solution',
    auth: 'apiKey',
    body: createSolutionRequestSchema,
    status: 201,
    response: solutionSchema,
  },
  { method: 'get', path: '/manage/v1/solutions', summary: 'List solutions', auth: 'apiKey', status: 200, response: list('solutions', solutionSchema) },
  {
    method: 'get',
    path: '/manage/v1/solutions/:solutionId',
    summary: 'A solution',
    auth: 'apiKey',
    params: solutionParams,
    status: 200,
    response: solutionSchema,
  },
  {
    method: 'delete',
    path: '/manage/v1/solutions/:solutionId',
    summary: 'Delete a solution and everything in it',
    auth: 'apiKey',
    params: solutionParams,
    status: 204,
  },
  {
    method: 'post',
    path: '/manage/v1/solutions/:solutionId/contexts',
    summary: 'Create a context',
    auth: 'apiKey',
    params: solutionParams,
    body: createContextRequestSchema,
    status: 201,
    response: contextSchema,
  },
  {
    method: 'get',
    path: '/manage/v1/solutions/:solutionId/contexts',
    summary: "A solution's contexts",
    auth: 'apiKey',
    params: solutionParams,
    status: 200,
    response: list('contexts', contextSchema),
  },
  { method: 'get', path: '/manage/v1/contexts/:contextId', summary: 'A context', auth: 'apiKey', params: contextParams, status: 200 },
  {
    method: 'delete',
    path: '/manage/v1/contexts/:contextId',
    summary: 'Delete a context, its users and rooms',
    auth: 'apiKey',
    params: contextParams,
    status: 204,
  },
  {
    method: 'put',
    path: '/manage/v1/contexts/:contextId/users/:userId',
    summary: 'Add a user (201) or confirm it (200)',
    auth: 'apiKey',
    params: userParams,
    body: addContextUserRequestSchema,
    status: 201,
    response: contextUserSchema,
  },
  {
    method: 'get',
    path: '/manage/v1/contexts/:contextId/users',
    summary: "A context's users, a page at a time in user-id order (`next` reads the following page)",
    auth: 'apiKey',
    params: contextParams,
    query: manageUsersQuery,
    status: 200,
    response: z.object({ users: z.array(contextUserSchema), next: z.optional(z.string()) }),
  },
  {
    method: 'delete',
    path: '/manage/v1/contexts/:contextId/users/:userId',
    summary: 'Remove a user (ends its sessions if it has no context left)',
    auth: 'apiKey',
    params: userParams,
    status: 204,
  },
  {
    method: 'get',
    path: '/manage/v1/contexts/:contextId/rooms',
    summary: "A context's rooms (versions and counts, no content)",
    auth: 'apiKey',
    params: contextParams,
    query: pageQuery,
    status: 200,
    response: z.object({ total: z.number(), rooms: z.array(manageRoomSchema) }),
  },
  { method: 'delete', path: '/manage/v1/rooms/:roomId', summary: 'Delete a room', auth: 'apiKey', params: roomParams, status: 204 },
  {
    method: 'post',
    path: '/manage/v1/api-keys',
    summary: 'Create an API key (shown once)',
    auth: 'apiKey',
    body: createApiKeyRequestSchema,
    status: 201,
    response: createdApiKeySchema,
  },
  { method: 'get', path: '/manage/v1/api-keys', summary: 'List API keys', auth: 'apiKey', status: 200, response: list('apiKeys', apiKeyInfoSchema) },
  { method: 'delete', path: '/manage/v1/api-keys/:id', summary: 'Revoke an API key (not the last one)', auth: 'apiKey', params: apiKeyParams, status: 204 },
];

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'stable code (README, "Errors")' },
        message: { type: 'string' },
        details: { type: 'object' },
        retryAfter: { type: 'number', description: 'seconds until a retry may succeed (also the Retry-After header)' },
      },
    },
  },
};

type Json = Record<string, unknown>;

function jsonSchema(schema: Schema, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

/** Path and query parameters from the object schema that validates them. */
function parameters(schema: Schema | undefined, where: 'path' | 'query'): Json[] {
  if (schema === undefined) return [];
  const object = jsonSchema(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (object.required ?? []).includes(name),
    schema: s,
  }));
}

export function openApiDocument(version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of ROUTES) {
    const path = r.path.replace(/:(\w+)/g, '{$1}');
    const responses: Json = {
      [r.status]:
        r.status === 204 || r.response === undefined
          ? { description: 'done' }
          : { description: 'done', content: { 'application/json': { schema: jsonSchema(r.response, 'output') } } },
      default: { description: 'a coded error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
    };
    (paths[path] ??= {})[r.method] = {
      summary: r.summary,
      security: r.auth === 'none' ? [] : [{ [r.auth]: [] }],
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } } }),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'sealroom Bridge', version, description: 'Room CRUD, login and the operator API. The Bridge stores only signed, encrypted records.' },
    paths,
    components: {
      schemas: { Error: errorSchema },
      securitySchemes: {
        session: { type: 'http', scheme: 'bearer', description: 'a session token (srt_...) from POST /v1/auth/session' },
        apiKey: { type: 'http', scheme: 'bearer', description: 'an operator API key (srk_...)' },
      },
    },
  };
}
