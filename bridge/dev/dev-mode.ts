/**
 * Dev mode (docs/app.md): for a local try-out, the web app registers its own user in a demo context,
 * so two browser windows can meet without an operator or curl. Mounted at `/dev/v1` only when the
 * Bridge runs with `devMode` (`sealroom start --dev`), which the config refuses on a non-loopback
 * address unless forced (bridge/config.ts). Without it these routes do not exist (404).
 *
 * What it gives away, on purpose: anyone who can reach the Bridge can add users to the demo context.
 * It cannot replace a user's key (a taken name is 409 USER_CONFLICT) and it touches no other context.
 */
import express, { Router } from 'express';
import * as z from 'zod';
import { addContextUserRequestSchema } from '../../protocol/api.ts';
import { userIdSchema } from '../../protocol/room-record.ts';
import { isLoopbackHost } from '../config.ts';
import { BridgeError } from '../errors.ts';
import type { ManageService } from '../manage/service.ts';
import type { BridgeServices } from '../services.ts';
import { parseInput } from '../http/validate.ts';

/** The demo solution and context dev mode creates on first use, found again by name after a restart. */
export const DEV_SOLUTION_NAME = 'sealroom dev mode';
export const DEV_CONTEXT_NAME = 'demo';
/** Users the demo context may hold: a bound on what an open registration route lets anyone add. */
export const DEV_MAX_USERS = 200;
/** Largest body of the register route, in bytes (a user id and a public key). */
const DEV_BODY_BYTES = 1024;

export const devRegisterSchema = z.strictObject({ userId: userIdSchema }).extend(addContextUserRequestSchema.shape);

export interface DevDemo {
  solutionId: string;
  contextId: string;
  contextName: string;
}

/**
 * Whether a dev-mode request names this Bridge (docs/app.md, "Dev mode"): a loopback name, or an
 * origin logins sign. A page that rebinds its own name to this machine (DNS rebinding) sends its own
 * name, and is refused before any route.
 */
export function devHostAllowed(host: string | undefined, origin: string, loginOrigins: readonly string[]): boolean {
  if (host === undefined || host === '') return false;
  return isLoopbackHost(host.replace(/:\d+$/, '')) || loginOrigins.includes(origin);
}

/** Routes under /dev/v1: `GET /info` (the demo context) and `POST /register` (a user with its key). */
export function devRouter(s: BridgeServices, manage: ManageService): Router {
  let demo: Promise<DevDemo> | undefined;
  const ensureDemo = (): Promise<DevDemo> => {
    demo ??= findOrCreateDemo(manage).catch((error: unknown) => {
      demo = undefined;
      throw error;
    });
    return demo;
  };

  const router = Router();
  router.use((_req, res, next) => {
    // Answers about users and ids: never cached, and never from another origin (no CORS headers).
    res.setHeader('cache-control', 'no-store');
    next();
  });
  router.get('/info', async (_req, res) => {
    res.json({ devMode: true, ...(await ensureDemo()) });
  });
  // Registrations one at a time: the count and the add of one are not interleaved with another's, so
  // the cap holds however many arrive at once (a user's add waits for the store's next group commit).
  let registrations: Promise<unknown> = Promise.resolve();
  const register = (contextId: string, userId: string, publicKey: string) => {
    const next = registrations.then(async () => {
      // A user already there signs in again (the page registers on every start), however many there are.
      const known = (await s.store.getContextUser(contextId, userId)) !== undefined;
      const { users } = await manage.listContextUsers(contextId, { limit: DEV_MAX_USERS });
      if (!known && users.length >= DEV_MAX_USERS) {
        throw BridgeError.forbidden(`dev mode: the demo context is full (${DEV_MAX_USERS} users)`);
      }
      return manage.addContextUser(contextId, userId, publicKey);
    });
    registrations = next.catch(() => undefined);
    return next;
  };
  router.post('/register', express.json({ limit: DEV_BODY_BYTES }), async (req, res) => {
    const body = parseInput(devRegisterSchema, req.body, 'body');
    const { solutionId, contextId, contextName } = await ensureDemo();
    const { created } = await register(contextId, body.userId, body.publicKey);
    s.log.info({ userId: body.userId, created }, 'dev mode: user registered in the demo context');
    res.status(created ? 201 : 200).json({ solutionId, contextId, contextName, userId: body.userId, created });
  });
  return router;
}

async function findOrCreateDemo(manage: ManageService): Promise<DevDemo> {
  const solution = (await manage.listSolutions()).find((x) => x.name === DEV_SOLUTION_NAME) ?? (await manage.createSolution(DEV_SOLUTION_NAME));
  const context =
    (await manage.listContexts(solution.solutionId)).find((x) => x.name === DEV_CONTEXT_NAME) ??
    (await manage.createContext(solution.solutionId, DEV_CONTEXT_NAME));
  return { solutionId: solution.solutionId, contextId: context.contextId, contextName: context.name };
}
