/**
 * The sealroom web app (docs/app.md): served by the Bridge at `/`, it talks to the Bridge of its own
 * origin. This file only wires the screens: the dev-mode banner, the welcome screen until a person
 * signs in, then the workspace. Which identity a tab uses is kept in sessionStorage, so two windows of
 * one browser can be two people and a reload keeps each window's person.
 */
import { appConfig, devInfo, devRegister, type DevInfo } from './dev-api.ts';
import { h, must, replace } from './dom.ts';
import { listIdentities, loadPrivateKey, type StoredIdentity } from './keystore.ts';
import { renderWelcome } from './screens/welcome.ts';
import { renderWorkspace, type Workspace } from './screens/workspace.ts';
import { Session } from './session.ts';
import { errorBox } from './ui.ts';

const TAB_IDENTITY = 'sealroom.identity';

async function start(): Promise<void> {
  const root = must('#app');
  const banner = must('#banner');
  const config = await appConfig();
  const dev: DevInfo | undefined = config.devMode ? await devInfo() : undefined;
  if (dev !== undefined) {
    document.body.classList.add('dev-mode');
    replace(
      banner,
      h(
        'div',
        { class: 'dev-banner', testid: 'dev-banner', attrs: { role: 'status' } },
        h('strong', null, 'DEV MODE'),
        ` · anyone who reaches this server can register a user in the "${dev.contextName}" context. For trying sealroom on this machine, never for production.`,
      ),
    );
  }

  let session: Session | undefined;
  let workspace: Workspace | undefined;
  const showWorkspace = async (contextId: string | undefined) => {
    if (session === undefined) return;
    await workspace?.close();
    workspace = await renderWorkspace(root, {
      session,
      contextId: dev?.contextId ?? contextId,
      ...(dev === undefined ? {} : { contextName: dev.contextName }),
      switchContext: (id) => void showWorkspace(id).catch((error: unknown) => root.prepend(errorBox(error))),
      signOut: () => {
        sessionStorage.removeItem(TAB_IDENTITY);
        const [endingWorkspace, endingSession] = [workspace, session];
        [workspace, session] = [undefined, undefined];
        void (async () => {
          await endingWorkspace?.close();
          await endingSession?.close();
        })().finally(() => void showWelcome());
      },
    });
  };
  const signIn = async (identity: StoredIdentity, privateKey: string) => {
    if (identity.solutionId === undefined) throw new Error('no solution id');
    // The screen that asked stays until this succeeds, and shows the error if it does not.
    session = await Session.open(privateKey, { publicKey: identity.id, solutionId: identity.solutionId }, { loopbackCandidatesOnly: config.mediaLoopbackOnly });
    sessionStorage.setItem(TAB_IDENTITY, identity.id);
    await showWorkspace(undefined);
  };
  const showWelcome = () => renderWelcome(root, { dev, signIn });

  // A reload keeps this window's person (a second window starts at the welcome screen).
  const chosen = sessionStorage.getItem(TAB_IDENTITY);
  const identity = chosen === null ? undefined : (await listIdentities()).find((i) => i.id === chosen);
  if (identity?.solutionId !== undefined) {
    try {
      // Dev mode: the Bridge may have started on a new database since; register again (idempotent).
      if (dev !== undefined) await devRegister(identity.userId, identity.id);
      await signIn(dev === undefined ? identity : { ...identity, solutionId: dev.solutionId }, await loadPrivateKey(identity.id));
      return;
    } catch (error) {
      sessionStorage.removeItem(TAB_IDENTITY);
      await showWelcome();
      root.prepend(errorBox(error));
      return;
    }
  }
  await showWelcome();
}

start().catch((error: unknown) => {
  const root = document.querySelector('#app') ?? document.body;
  root.replaceChildren(errorBox(error));
});
