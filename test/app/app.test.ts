/**
 * The web app in Chromium, two people in two browser contexts, against a Bridge started as `make run`
 * starts it (dev mode, the app served at /): sign up, create a room, invite, chat, send a file and
 * check its bytes, compare safety numbers, rotate the key and keep chatting, remove a member who then
 * loses the room; a key change, a call, a tampered room. Then without dev mode, as an operator runs it:
 * the operator adds the key the page shows, and the key moves to another browser by backup and import.
 * Screenshots of the main screens go to test-output/app/ (git-ignored).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import type { Page, WebSocketRoute } from 'playwright-core';
import { ManageClient } from '../../bridge/manage/client.ts';
import { generateKeyPair, publicKeyOf } from '../../crypto/identity.ts';
import { mistype } from '../identities.ts';
import { SCREENSHOT_DIR, startApp, type AppUnderTest, type Person } from './app-harness.ts';

/** How long one step may take in the page (a login, a room verified, a message delivered). */
const STEP_MS = 15_000;

let app: AppUnderTest;
let alice: Person;
let bob: Person;

beforeAll(async () => {
  app = await startApp();
  alice = await app.person('alice');
  bob = await app.person('bob');
}, 120_000);
afterAll(async () => {
  await app?.close();
});

const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });

async function signUp(person: Person): Promise<void> {
  const { page } = person;
  await page.getByTestId('new-user-id').fill(person.name);
  await page.getByTestId('create-identity').click();
  await page.getByTestId('room-list').waitFor({ timeout: STEP_MS });
  await expect.poll(() => page.getByTestId('me').textContent()).toContain(person.name);
}

async function say(person: Person, text: string): Promise<void> {
  await person.page.getByTestId('message').fill(text);
  await person.page.getByTestId('send').click();
}

async function sees(person: Person, text: string): Promise<void> {
  await person.page.getByTestId('chat-message').filter({ hasText: text }).first().waitFor({ timeout: STEP_MS });
}

async function facts(person: Person): Promise<string> {
  return (await person.page.getByTestId('room-facts').textContent()) ?? '';
}

describe('two people in the web app', () => {
  it('sign up, make a room, chat, share a file, verify each other, rotate, and remove', async () => {
    // Dev mode is on and labelled; each person makes an identity in the browser and signs in.
    await alice.page.getByTestId('dev-banner').waitFor({ timeout: STEP_MS });
    expect(await alice.page.getByTestId('dev-banner').textContent()).toContain('DEV MODE');
    await shot(alice.page, '1-welcome');
    await signUp(alice);
    await signUp(bob);

    // Alice creates a room with Bob as a member; both see it, verified, at version 1, epoch 1.
    await alice.page.getByTestId('new-room').click();
    await alice.page.getByTestId('room-name').fill('standup');
    await alice.page.getByTestId('member-bob').check();
    await shot(alice.page, '2-new-room');
    await alice.page.getByTestId('save-room').click();
    await alice.page.getByTestId('room').waitFor({ timeout: STEP_MS });
    expect(await facts(alice)).toContain('version 1 · key epoch 1 · 2 members');
    const bobsItem = bob.page.getByTestId('room-item').filter({ hasText: 'standup' });
    await bobsItem.waitFor({ timeout: STEP_MS });
    await bobsItem.click();
    await bob.page.getByTestId('room').waitFor({ timeout: STEP_MS });
    expect(await facts(bob)).toContain('version 1 · key epoch 1');

    // Chat both ways; each sees the other in the room.
    await say(alice, 'hello bob');
    await sees(bob, 'hello bob');
    await say(bob, 'hi alice, ça va ?');
    await sees(alice, 'hi alice, ça va ?');
    await alice.page.locator('[data-testid="member-row-bob"] .dot.on').waitFor({ timeout: STEP_MS });

    // A file, with progress on both sides; Bob saves it and gets the same bytes.
    const bytes = randomBytes(3 * 1024 * 1024 + 123);
    const watchProgress = (person: Person) =>
      person.page.evaluate(() => {
        const seen: number[] = [];
        (window as unknown as { progressSeen: number[] }).progressSeen = seen;
        new MutationObserver(() => {
          for (const bar of document.querySelectorAll<HTMLProgressElement>('[data-testid="file-progress"]')) seen.push(bar.value);
        }).observe(document.body, { subtree: true, childList: true });
      });
    const progressSeen = (person: Person) => person.page.evaluate(() => (window as unknown as { progressSeen: number[] }).progressSeen);
    await watchProgress(alice);
    await watchProgress(bob);
    await alice.page.getByTestId('file-input').setInputFiles({ name: 'report.bin', mimeType: 'application/octet-stream', buffer: bytes });
    const incoming = bob.page.getByTestId('file-item').filter({ hasText: 'report.bin' });
    await incoming.waitFor({ timeout: STEP_MS });
    await bob.page.getByTestId('save-file').waitFor({ timeout: 60_000 });
    await alice.page.locator('[data-testid="file-item"][data-state="done"]').waitFor({ timeout: STEP_MS });
    const [download] = await Promise.all([bob.page.waitForEvent('download'), bob.page.getByTestId('save-file').click()]);
    expect(download.suggestedFilename()).toBe('report.bin');
    const saved = readFileSync(await download.path());
    expect(saved.equals(bytes)).toBe(true);
    // Both sides showed the transfer moving, not only its end.
    for (const person of [alice, bob])
      expect(
        (await progressSeen(person)).some((v) => v > 0 && v < 100),
        person.name,
      ).toBe(true);

    // A file whose name reorders text and whose type is a web page: the name shows its bidi control
    // as a code, and the saved file is bytes, never a document of the app's origin.
    await alice.page
      .getByTestId('file-input')
      .setInputFiles({ name: 'invoice\u202Efdp.exe', mimeType: 'text/html', buffer: Buffer.from('<h1>not the app</h1>') });
    const disguised = bob.page.getByTestId('file-item').filter({ hasText: 'invoice[U+202E]fdp.exe' });
    await disguised.getByTestId('save-file').waitFor({ timeout: STEP_MS });
    const [second] = await Promise.all([bob.page.waitForEvent('download'), disguised.getByTestId('save-file').click()]);
    expect(second.suggestedFilename()).not.toContain('\u202E');
    expect(await disguised.getByTestId('save-file').evaluate((link) => (link as HTMLAnchorElement).type)).toBe('application/octet-stream');

    // A message longer than the page shows (another client may send one; the input's own bound is not
    // the receiver's): refused unread, with a notice, and the next message arrives as usual.
    await alice.page.getByTestId('message').evaluate((input, text) => {
      (input as HTMLInputElement).value = text;
    }, 'x'.repeat(20_000));
    await alice.page.getByTestId('send').click();
    await bob.page.getByText('limited to 16,384 characters').waitFor({ timeout: STEP_MS });
    await say(alice, 'still here');
    await sees(bob, 'still here');

    // Safety numbers: the same 60 digits on both screens; Alice marks Bob verified.
    await alice.page.getByTestId('safety-toggle-bob').click();
    await bob.page.getByTestId('safety-toggle-alice').click();
    const digits = async (person: Person, other: string) => {
      const panel = person.page.getByTestId(`safety-number-${other}`);
      await panel.waitFor({ timeout: STEP_MS });
      return (await panel.textContent())?.replace(/\D/g, '');
    };
    const aliceSees = await digits(alice, 'bob');
    expect(aliceSees).toMatch(/^\d{60}$/);
    expect(await digits(bob, 'alice')).toBe(aliceSees);
    await alice.page.getByTestId('verify-bob').click();
    await alice.page.locator('[data-testid="member-row-bob"] .badge.ok').waitFor({ timeout: STEP_MS });
    await shot(alice.page, '3-room');

    // Rotate the key: both follow to epoch 2 and keep chatting.
    await alice.page.getByTestId('rotate-key').click();
    await expect.poll(() => facts(alice), { timeout: STEP_MS }).toContain('version 2 · key epoch 2');
    await expect.poll(() => facts(bob), { timeout: STEP_MS }).toContain('version 2 · key epoch 2');
    await say(bob, 'still here after the rotation');
    await sees(alice, 'still here after the rotation');
    await say(alice, 'me too');
    await sees(bob, 'me too');
    await shot(bob.page, '4-room-bob');
    await bob.page.setViewportSize({ width: 420, height: 820 });
    await shot(bob.page, '4-room-bob-narrow');
    await bob.page.setViewportSize({ width: 1180, height: 760 });

    // Alice removes Bob: his window leaves the room, says so, and the room is gone from his list.
    await alice.page.getByTestId('edit-room').click();
    await alice.page.getByTestId('member-bob').uncheck();
    await alice.page.getByTestId('save-room').click();
    await expect.poll(() => facts(alice), { timeout: STEP_MS }).toContain('version 3 · key epoch 3 · 1 member');
    await bob.page.getByTestId('gone-message').waitFor({ timeout: STEP_MS });
    expect(await bob.page.getByTestId('gone-message').textContent()).toBe('You were removed from that room.');
    await expect.poll(() => bob.page.getByTestId('room-item').count(), { timeout: STEP_MS }).toBe(0);
    await shot(bob.page, '5-removed');

    expect(alice.problems).toEqual([]);
    expect(bob.problems).toEqual([]);
  }, 180_000);

  it("warns when a member's key changes, and shares nothing until the numbers are compared again (verified) or the key is trusted", async () => {
    // The operator removes bob; a new "bob" (another key) registers; alice had verified the old one.
    const info = (await (await fetch(`${app.bridge.url}/dev/v1/info`)).json()) as { contextId: string };
    const manage = new ManageClient(app.bridge.url, app.bridge.apiKey);
    await manage.removeContextUser(info.contextId, 'bob');
    await bob.page.getByTestId('sign-out').click();
    await signUp(bob);
    // The old bob's session ended with his removal: the browser logs its refused requests (401).
    expect(bob.problems.every((p) => p.includes('401 (Unauthorized)'))).toBe(true);
    bob.problems.length = 0;

    await alice.page.getByTestId('new-room').click();
    await alice.page.getByTestId('room-name').fill('second');
    await alice.page.getByTestId('member-bob').check();
    await alice.page.getByTestId('save-room').click();
    const warning = alice.page.getByTestId('key-changed-bob');
    await warning.waitFor({ timeout: STEP_MS });
    expect(await warning.textContent()).toContain('You had verified bob');
    expect(await alice.page.getByTestId('accept-key-bob').count()).toBe(0); // a verified user's change needs a new comparison
    expect(await alice.page.getByTestId('room-form').getByTestId('error').textContent()).toContain("A member's key is not the one you trusted before");
    await shot(alice.page, '6-key-changed');

    // Alice compares the new number (with the new bob, out of band) and marks it verified: the room can be made.
    await warning.getByRole('button', { name: 'Compare safety numbers' }).click();
    await alice.page.getByTestId('verify-bob').click();
    await warning.waitFor({ state: 'detached', timeout: STEP_MS });
    await alice.page.getByTestId('save-room').click();
    await alice.page.getByTestId('room').waitFor({ timeout: STEP_MS });
    await bob.page.getByTestId('room-item').filter({ hasText: 'second' }).waitFor({ timeout: STEP_MS });

    // A user Alice never verified (dave, registered from here): his key change can simply be trusted.
    const register = async (publicKey: string) =>
      (
        await fetch(`${app.bridge.url}/dev/v1/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ userId: 'dave', publicKey }),
        })
      ).status;
    expect(await register((await generateKeyPair()).publicKey)).toBe(201);
    const makeRoomWithDave = async (name: string) => {
      await alice.page.getByTestId('new-room').click();
      await alice.page.getByTestId('room-name').fill(name);
      await alice.page.getByTestId('member-dave').check();
      await alice.page.getByTestId('save-room').click();
    };
    await makeRoomWithDave('with dave');
    await alice.page.getByTestId('room-title').filter({ hasText: 'with dave' }).waitFor({ timeout: STEP_MS });
    await manage.removeContextUser(info.contextId, 'dave');
    expect(await register((await generateKeyPair()).publicKey)).toBe(201);
    await makeRoomWithDave('with new dave');
    await alice.page.getByTestId('key-changed-dave').waitFor({ timeout: STEP_MS });
    expect(await alice.page.getByTestId('key-changed-dave').textContent()).toContain('Nothing is shared with the new key until you decide');
    await alice.page.getByTestId('accept-key-dave').click();
    await alice.page.getByTestId('key-changed-dave').waitFor({ state: 'detached', timeout: STEP_MS });
    await alice.page.getByTestId('save-room').click();
    await alice.page.getByTestId('room-title').filter({ hasText: 'with new dave' }).waitFor({ timeout: STEP_MS });
  }, 60_000);

  it('lets both join a call in the room and see and hear each other, encrypted through the forwarding unit', async () => {
    await alice.page.getByTestId('room-item').filter({ hasText: 'second' }).click();
    await bob.page.getByTestId('room-item').filter({ hasText: 'second' }).click();
    for (const person of [alice, bob]) {
      await person.page.getByTestId('join-call').click();
      // Joined, or an error in the call's slot (its text is the failure message). A publish may take
      // up to the Endpoint's connectTimeoutMs (15 s) on a loaded machine.
      const outcome = person.page.locator('[data-testid="leave-call"], [data-testid="call"] [data-testid="error"]');
      await outcome.first().waitFor({ timeout: 40_000 });
      expect(await person.page.locator('[data-testid="call"] [data-testid="error"]').allTextContents(), person.name).toEqual([]);
    }
    // Each plays the other's camera (decrypted frames: the fake device's picture) and hears their beeps.
    const playing = (person: Person, other: string) =>
      person.page.evaluate((name) => {
        const video = document.querySelector<HTMLVideoElement>(`[data-testid="tile-${name}"] video`);
        const meter = document.querySelector<HTMLElement>(`[data-testid="tile-${name}"] .meter-fill`);
        return { width: video?.videoWidth ?? 0, time: video?.currentTime ?? 0, level: Number.parseFloat(meter?.style.width ?? '0') || 0 };
      }, other);
    for (const [person, other] of [
      [alice, 'bob'],
      [bob, 'alice'],
    ] as const) {
      await expect.poll(async () => (await playing(person, other)).width, { timeout: 30_000 }).toBeGreaterThan(0);
      const before = (await playing(person, other)).time;
      await expect.poll(async () => (await playing(person, other)).time, { timeout: STEP_MS }).toBeGreaterThan(before);
      await expect.poll(async () => (await playing(person, other)).level, { timeout: STEP_MS }).toBeGreaterThan(0);
    }
    expect(await alice.page.getByTestId('call-status').textContent()).toContain('In the call with 1 other');
    await bob.page.getByTestId('toggle-mic').click();
    expect(await bob.page.getByTestId('toggle-mic').textContent()).toBe('Unmute');

    // Alice shares her screen: a second video of hers on Bob's grid, gone when she stops.
    await alice.page.getByTestId('share-screen').click();
    await expect.poll(() => bob.page.getByTestId('tile-alice').count(), { timeout: 30_000 }).toBe(2);
    await shot(alice.page, '7-call');
    await alice.page.getByTestId('stop-screen').click();
    await expect.poll(() => bob.page.getByTestId('tile-alice').count(), { timeout: 30_000 }).toBe(1);

    // Bob leaves the call: his tile goes from Alice's grid.
    await bob.page.getByTestId('leave-call').click();
    await alice.page.getByTestId('tile-bob').waitFor({ state: 'detached', timeout: 30_000 });
    await alice.page.getByTestId('leave-call').click();
    expect(alice.problems).toEqual([]);
    expect(bob.problems).toEqual([]);
  }, 180_000);

  it('lets a second window of the same browser be another person, while the first stays who it was', async () => {
    const window2 = await alice.context.newPage();
    await window2.goto(app.url);
    await window2.getByTestId('sign-in-alice').waitFor({ timeout: STEP_MS }); // the identities of this browser are offered
    await window2.getByTestId('new-user-id').fill('erin');
    await window2.getByTestId('create-identity').click();
    await window2.getByTestId('room-list').waitFor({ timeout: STEP_MS });
    expect(await window2.getByTestId('me').textContent()).toContain('erin');
    await window2.reload();
    await window2.getByTestId('room-list').waitFor({ timeout: STEP_MS });
    expect(await window2.getByTestId('me').textContent()).toContain('erin');
    expect(await alice.page.getByTestId('me').textContent()).toContain('alice');
    await window2.close();
  }, 60_000);

  it('tells a second window that signs in as the same person that the identity is open elsewhere', async () => {
    const window2 = await alice.context.newPage();
    await window2.goto(app.url);
    await window2.getByTestId('sign-in-alice').click();
    const error = window2.getByTestId('error');
    await error.waitFor({ timeout: STEP_MS });
    expect(await error.textContent()).toContain('already open in another window or tab');
    expect(await error.textContent()).toContain('ERR_ENDPOINT_TRUST_STORE_BUSY');
    expect(await window2.getByTestId('room-list').count()).toBe(0);
    await window2.close();
    // The first window is still alice, and still works.
    await alice.page.getByTestId('room-list').waitFor({ timeout: STEP_MS });
    expect(await alice.page.getByTestId('me').textContent()).toContain('alice');
  }, 60_000);

  it('shows a room whose record the Bridge altered as an error, without its data', async () => {
    const db = new Database(join(app.dataDir, 'sealroom.db'));
    try {
      db.pragma('busy_timeout = 5000');
      const room = db.prepare('SELECT id, version FROM rooms ORDER BY created_at LIMIT 1').get() as { id: string; version: number };
      const row = db.prepare('SELECT record FROM room_versions WHERE room_id = ? AND version = ?').get(room.id, room.version) as { record: string };
      // The private meta's ciphertext, or any signed byte: one character changed.
      const altered = row.record.replace(/"epoch":(\d+)/, (_m, e: string) => `"epoch":${Number(e) + 1}`);
      expect(altered).not.toBe(row.record);
      db.prepare('UPDATE room_versions SET record = ? WHERE room_id = ? AND version = ?').run(altered, room.id, room.version);
    } finally {
      db.close();
    }
    await alice.page.reload();
    const failed = alice.page.locator('[data-testid="room-item"].failed');
    await failed.waitFor({ timeout: STEP_MS });
    expect(await failed.textContent()).toContain('failed verification');
    expect(await failed.textContent()).not.toContain('standup');
    await shot(alice.page, '8-tampered');
  }, 60_000);
});

describe('the web app without dev mode', () => {
  // Its own Bridge, started as an operator would: no --dev.
  let operatorApp: AppUnderTest;
  beforeAll(async () => {
    operatorApp = await startApp({ dev: false });
  }, 120_000);
  afterAll(async () => {
    await operatorApp?.close();
  });

  it('signs a person in with a key the operator added, shows a dropped connection coming back, and moves the key to another browser', async () => {
    const carol = await operatorApp.person('carol');
    const { page } = carol;
    await page.getByTestId('welcome').waitFor({ timeout: STEP_MS });
    expect(await page.getByTestId('dev-banner').count()).toBe(0);
    expect(await page.evaluate(async () => (await fetch('/app-config.json')).json())).toEqual({ devMode: false, mediaLoopbackOnly: true });
    expect((await fetch(`${operatorApp.bridge.url}/dev/v1/info`)).status).toBe(404);

    // Carol's WebSockets pass through the test, which can drop one.
    const sockets: WebSocketRoute[] = [];
    await page.routeWebSocket(/\/v1\/ws/, (ws) => {
      ws.connectToServer();
      sockets.push(ws);
    });
    await page.getByTestId('new-user-id').fill('carol');
    await page.getByTestId('create-identity').click();
    const publicKey = (await page.getByTestId('public-key').textContent()) ?? '';
    expect(publicKey).toMatch(/^srpk1/);
    await shot(page, '9-give-key-to-operator');

    // The operator's part.
    const manage = new ManageClient(operatorApp.bridge.url, operatorApp.bridge.apiKey);
    const { solutionId } = await manage.createSolution('acme');
    const { contextId } = await manage.createContext(solutionId, 'support');
    await manage.addContextUser(contextId, 'carol', publicKey);
    const sales = await manage.createContext(solutionId, 'sales');
    await manage.addContextUser(sales.contextId, 'carol', publicKey);

    await page.getByTestId('solution-id').fill(solutionId);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('room-list').waitFor({ timeout: STEP_MS });
    expect(await page.getByTestId('me').textContent()).toContain('carol');

    // Two contexts: a picker; a room made in one is not listed in the other.
    const picker = page.getByTestId('context-picker');
    expect(await picker.locator('option').allTextContents()).toEqual(expect.arrayContaining([contextId, sales.contextId]));
    await picker.selectOption(contextId);
    await page.getByTestId('new-room').click();
    await page.getByTestId('room-name').fill('support desk');
    await page.getByTestId('save-room').click();
    await page.getByTestId('room').waitFor({ timeout: STEP_MS });
    await page.getByTestId('context-picker').selectOption(sales.contextId);
    await page.getByText('No rooms yet.').waitFor({ timeout: STEP_MS });
    await page.getByTestId('context-picker').selectOption(contextId);
    await page.getByTestId('room-item').filter({ hasText: 'support desk' }).waitFor({ timeout: STEP_MS });

    // The connection state follows a dropped socket and the reconnect.
    const state = () => page.getByTestId('connection-state').textContent();
    expect(await state()).toBe('Connected');
    expect(sockets).toHaveLength(1);
    await sockets[0]!.close({ code: 4000, reason: 'dropped by the test' });
    await expect.poll(state, { timeout: STEP_MS }).toMatch(/^Reconnecting…|^Reconnected$/);
    await expect.poll(state, { timeout: 30_000 }).toBe('Reconnected');
    await expect.poll(state, { timeout: STEP_MS }).toBe('Connected');
    expect(sockets).toHaveLength(2);

    // Back up the key, then import it in a second browser: the same user signs in there.
    await page.getByTestId('sign-out').click();
    await page.getByTestId('backup-carol').click();
    const privateKey = await page.getByTestId('backup-key').inputValue();
    await shot(page, '10-backup');
    expect(await publicKeyOf(privateKey)).toBe(publicKey);

    // What IndexedDB holds: no private key in clear, and a wrapping key no script can export.
    const stored = await page.evaluate(async (secret) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const req = indexedDB.open('sealroom-app');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const all = <T>(store: string) =>
        new Promise<T[]>((resolve, reject) => {
          const req = db.transaction(store).objectStore(store).getAll();
          req.onsuccess = () => resolve(req.result as T[]);
          req.onerror = () => reject(req.error);
        });
      const records = await all<Record<string, unknown>>('identities');
      const [key] = await all<CryptoKey>('wrapping');
      const exported = await crypto.subtle.exportKey('raw', key!).then(
        () => 'exported',
        (e: unknown) => (e as Error).name,
      );
      const text = JSON.stringify(records, (_k, v: unknown) => (v instanceof ArrayBuffer || ArrayBuffer.isView(v) ? new TextDecoder().decode(v) : v));
      return { count: records.length, clear: text.includes(secret), extractable: key!.extractable, exported };
    }, privateKey);
    expect(stored).toEqual({ count: 1, clear: false, extractable: false, exported: 'InvalidAccessError' });

    const laptop = await operatorApp.person('carol-laptop');
    await laptop.page.getByText('Use an existing private key').click();
    await laptop.page.getByLabel('Name').fill('carol');
    await laptop.page.getByTestId('paste-key').fill(privateKey);
    await laptop.page.getByRole('button', { name: 'Import and sign in' }).click();
    expect(await laptop.page.getByTestId('public-key').textContent()).toBe(publicKey);
    await laptop.page.getByTestId('solution-id').fill(solutionId);
    await laptop.page.getByRole('button', { name: 'Sign in' }).click();
    await laptop.page.getByTestId('room-list').waitFor({ timeout: STEP_MS });

    // A mistyped key is refused with its own message, and nothing is stored.
    const other = await operatorApp.person('typo');
    await other.page.getByText('Use an existing private key').click();
    await other.page.getByLabel('Name').fill('typo');
    await other.page.getByTestId('paste-key').fill(mistype(privateKey));
    await other.page.getByRole('button', { name: 'Import and sign in' }).click();
    await other.page.getByText('That is not a sealroom private key').waitFor({ timeout: STEP_MS });
    expect([...carol.problems, ...laptop.problems, ...other.problems]).toEqual([]);
  }, 90_000);
});
