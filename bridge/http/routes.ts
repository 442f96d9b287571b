/**
 * The Bridge's REST routes. Each handler validates its input with a schema from protocol/api.ts and
 * calls a service; errors are thrown as HttpError and rendered by the one error handler.
 */
import express, { Router, type Request, type Response } from 'express';
import * as z from 'zod';
import {
  addContextUserRequestSchema,
  challengeRequestSchema,
  createApiKeyRequestSchema,
  createContextRequestSchema,
  createRoomRequestSchema,
  createSolutionRequestSchema,
  DIRECTORY_PAGE_MAX_USERS,
  directoryQuerySchema,
  getRoomQuerySchema,
  listRoomsQuerySchema,
  sessionRequestSchema,
  solutionIdSchema,
  updateRoomRequestSchema,
} from '../../protocol/api.ts';
import { contextIdSchema, roomIdSchema, userIdSchema } from '../../protocol/room-record.ts';
import { bearerToken, type AuthService } from '../auth/service.ts';
import type { ManageService } from '../manage/service.ts';
import type { RoomService } from '../rooms/service.ts';
import type { BridgeServices } from '../services.ts';
import type { SessionRow } from '../store/types.ts';
import { parseInput } from './validate.ts';

function session(res: Response): SessionRow {
  return res.locals.session as SessionRow;
}

/**
 * The client's address: the socket's peer, or, behind a proxy named by the `trustProxy` option, the
 * address that proxy reports in X-Forwarded-For (express's `req.ip`). Never the header otherwise.
 */
function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

export const roomParams = z.strictObject({ roomId: roomIdSchema });
export const contextParams = z.strictObject({ contextId: contextIdSchema });
export const solutionParams = z.strictObject({ solutionId: solutionIdSchema });
export const userParams = z.strictObject({ contextId: contextIdSchema, userId: userIdSchema });
export const apiKeyParams = z.strictObject({ id: z.string().regex(/^key_[A-Za-z0-9_-]{22}$/, 'expected an API key id (key_...)') });
/** A page of a context's users for the operator: user-id order, after `after`, at most `limit`. */
export const manageUsersQuery = z.strictObject({
  after: z.optional(userIdSchema),
  limit: z.coerce.number().int().positive().max(DIRECTORY_PAGE_MAX_USERS).optional(),
});
export const pageQuery = z.strictObject({
  skip: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().positive().max(1000).default(100),
});

/** Routes under /v1: login, then everything a user does with a session token. */
export function userRouter(s: BridgeServices, auth: AuthService, rooms: RoomService): Router {
  const router = Router();
  // Bodies are parsed only where a route takes one, with that route's limit, and room bodies only
  // after the session is checked: a stranger cannot make the Bridge read megabytes (docs/operations/limits.md).
  const authJson = express.json({ limit: s.config.limits.authBodyBytes });

  router.post('/auth/challenge', authJson, async (req, res) => {
    const body = parseInput(challengeRequestSchema, req.body, 'body');
    res.json(await auth.challenge(body));
  });

  router.post('/auth/session', authJson, async (req, res) => {
    const body = parseInput(sessionRequestSchema, req.body, 'body');
    res.status(201).json(await auth.login(body, clientAddress(req)));
  });

  // Everything below needs a session.
  router.use(async (req, res, next) => {
    res.locals.session = await auth.authenticate(bearerToken(req.get('authorization')));
    next();
  });
  // A room write counts against its user's rate before its body is read: a flood of refused writes
  // costs no parsing (docs/operations/limits.md, "Quotas").
  router.use('/rooms', async (req, res, next) => {
    if (req.method === 'POST' || req.method === 'PUT' || req.method === 'DELETE') await rooms.admitWrite(session(res));
    next();
  });
  router.use(express.json({ limit: s.config.limits.bodyBytes }));

  router.post('/auth/logout', async (_req, res) => {
    await auth.logout(session(res));
    res.status(204).end();
  });

  router.get('/me', async (_req, res) => {
    const me = session(res);
    const user = await s.store.findSolutionUser(me.solutionId, me.publicKey);
    res.json({ userId: me.userId, solutionId: me.solutionId, publicKey: me.publicKey, expiresAt: me.expiresAt, contextIds: user?.contextIds ?? [] });
  });

  router.get('/contexts/:contextId/users', async (req, res) => {
    const { contextId } = parseInput(contextParams, req.params, 'params');
    const { history, userIds, after, limit } = parseInput(directoryQuerySchema, req.query, 'query');
    res.json(await rooms.contextUsers(session(res), contextId, history === 'true', userIds?.split(','), { after, limit }));
  });

  router.get('/contexts/:contextId/rooms', async (req, res) => {
    const { contextId } = parseInput(contextParams, req.params, 'params');
    const query = parseInput(listRoomsQuerySchema, req.query, 'query');
    res.json(await rooms.list(session(res), contextId, query));
  });

  router.post('/rooms', async (req, res) => {
    const body = parseInput(createRoomRequestSchema, req.body, 'body');
    res.status(201).json(await rooms.create(session(res), body));
  });

  router.get('/rooms/:roomId', async (req, res) => {
    const { roomId } = parseInput(roomParams, req.params, 'params');
    const { since } = parseInput(getRoomQuerySchema, req.query, 'query');
    res.json(await rooms.get(session(res), roomId, since));
  });

  router.put('/rooms/:roomId', async (req, res) => {
    const { roomId } = parseInput(roomParams, req.params, 'params');
    const body = parseInput(updateRoomRequestSchema, req.body, 'body');
    res.json(await rooms.update(session(res), roomId, body));
  });

  router.delete('/rooms/:roomId', async (req, res) => {
    const { roomId } = parseInput(roomParams, req.params, 'params');
    await rooms.delete(session(res), roomId);
    res.status(204).end();
  });

  return router;
}

/** Routes under /manage/v1: the operator's API, authenticated by API key. */
export function manageRouter(s: BridgeServices, manage: ManageService): Router {
  const router = Router();
  router.use(async (req, _res, next) => {
    await manage.authenticate(bearerToken(req.get('authorization')));
    next();
  });
  router.use(express.json({ limit: s.config.limits.manageBodyBytes }));

  router.post('/solutions', async (req, res) => {
    const { name } = parseInput(createSolutionRequestSchema, req.body, 'body');
    res.status(201).json(await manage.createSolution(name));
  });
  router.get('/solutions', async (_req, res) => {
    res.json({ solutions: await manage.listSolutions() });
  });
  router.get('/solutions/:solutionId', async (req, res) => {
    const { solutionId } = parseInput(solutionParams, req.params, 'params');
    res.json(await manage.getSolution(solutionId));
  });
  router.delete('/solutions/:solutionId', async (req, res) => {
    const { solutionId } = parseInput(solutionParams, req.params, 'params');
    await manage.deleteSolution(solutionId);
    res.status(204).end();
  });

  router.post('/solutions/:solutionId/contexts', async (req, res) => {
    const { solutionId } = parseInput(solutionParams, req.params, 'params');
    const { name } = parseInput(createContextRequestSchema, req.body, 'body');
    res.status(201).json(await manage.createContext(solutionId, name));
  });
  router.get('/solutions/:solutionId/contexts', async (req, res) => {
    const { solutionId } = parseInput(solutionParams, req.params, 'params');
    res.json({ contexts: await manage.listContexts(solutionId) });
  });
  router.get('/contexts/:contextId', async (req, res) => {
    const { contextId } = parseInput(contextParams, req.params, 'params');
    res.json(await manage.describeContext(contextId));
  });
  router.delete('/contexts/:contextId', async (req, res) => {
    const { contextId } = parseInput(contextParams, req.params, 'params');
    await manage.deleteContext(contextId);
    res.status(204).end();
  });

  router.put('/contexts/:contextId/users/:userId', async (req, res) => {
    const { contextId, userId } = parseInput(userParams, req.params, 'params');
    const { publicKey } = parseInput(addContextUserRequestSchema, req.body, 'body');
    const { user, created } = await manage.addContextUser(contextId, userId, publicKey);
    res.status(created ? 201 : 200).json(user);
  });
  router.get('/contexts/:contextId/users', async (req, res) => {
    const { contextId } = parseInput(contextParams, req.params, 'params');
    const { after, limit } = parseInput(manageUsersQuery, req.query, 'query');
    res.json(await manage.listContextUsers(contextId, { after, limit }));
  });
  router.delete('/contexts/:contextId/users/:userId', async (req, res) => {
    const { contextId, userId } = parseInput(userParams, req.params, 'params');
    await manage.removeContextUser(contextId, userId);
    res.status(204).end();
  });

  router.get('/contexts/:contextId/rooms', async (req, res) => {
    const { contextId } = parseInput(contextParams, req.params, 'params');
    const { skip, limit } = parseInput(pageQuery, req.query, 'query');
    res.json(await manage.listRooms(contextId, skip, limit));
  });
  router.delete('/rooms/:roomId', async (req, res) => {
    const { roomId } = parseInput(roomParams, req.params, 'params');
    await manage.deleteRoom(roomId);
    res.status(204).end();
  });

  router.post('/api-keys', async (req, res) => {
    const { name } = parseInput(createApiKeyRequestSchema, req.body, 'body');
    res.status(201).json(await manage.createApiKey(name));
  });
  router.get('/api-keys', async (_req, res) => {
    res.json({ apiKeys: await manage.listApiKeys() });
  });
  router.delete('/api-keys/:id', async (req, res) => {
    const { id } = parseInput(apiKeyParams, req.params, 'params');
    await manage.revokeApiKey(id);
    res.status(204).end();
  });

  return router;
}
