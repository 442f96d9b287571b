/**
 * The first screen: choose an identity kept in this browser, create one, or import a private key;
 * then sign in. In dev mode a new identity registers itself in the demo context and signs in at once;
 * otherwise the page shows the public key to give the operator, and asks for the solution id.
 */
import { generateKeyPair, publicKeyOf } from 'sealroom/crypto';
import { devRegister, type DevInfo } from '../dev-api.ts';
import { h, replace } from '../dom.ts';
import { shortKey, userIdProblem } from '../format.ts';
import { deleteIdentity, listIdentities, loadPrivateKey, saveIdentity, setSolution, type StoredIdentity } from '../keystore.ts';
import { PersonError } from '../messages.ts';
import { busy, copyButton, field } from '../ui.ts';

export interface WelcomeOptions {
  dev: DevInfo | undefined;
  /** Signs in; throws what the screen should show. */
  signIn(identity: StoredIdentity, privateKey: string): Promise<void>;
}

export async function renderWelcome(root: HTMLElement, options: WelcomeOptions): Promise<void> {
  const identities = await listIdentities();
  const errors = h('div', { class: 'slot' });
  const main = h('section', { class: 'card welcome', testid: 'welcome' });
  replace(root, h('div', { class: 'center' }, main));

  const signIn = async (identity: StoredIdentity) => {
    if (options.dev !== undefined) {
      const privateKey = await loadPrivateKey(identity.id);
      await devRegister(identity.userId, identity.id);
      if (identity.solutionId !== options.dev.solutionId) await setSolution(identity.id, options.dev.solutionId);
      await options.signIn({ ...identity, solutionId: options.dev.solutionId }, privateKey);
      return;
    }
    if (identity.solutionId === undefined) {
      showSolutionStep(identity);
      return;
    }
    await options.signIn(identity, await loadPrivateKey(identity.id));
  };

  // Step two outside dev mode: the operator adds the public key; the person types the solution id.
  const showSolutionStep = (identity: StoredIdentity) => {
    const solution = h('input', { type: 'text', placeholder: 'sol_…', testid: 'solution-id', autocomplete: 'off', spellcheck: false });
    const go = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
    const slot = h('div', { class: 'slot' });
    const form = h(
      'form',
      { class: 'stack' },
      h('h2', null, `Almost there, ${identity.userId}`),
      h('p', null, 'Give this public key to the operator of this server. It is safe to share; your private key never leaves this browser.'),
      h('div', { class: 'key-line' }, h('code', { class: 'key', testid: 'public-key' }, identity.id), copyButton(identity.id)),
      h(
        'p',
        { class: 'hint' },
        'The operator runs: ',
        h('code', null, `sealroom user add <contextId> ${identity.userId} ${identity.id}`),
        ', then tells you the solution id.',
      ),
      field('Solution id', solution),
      go,
      slot,
    );
    form.onsubmit = (event) => {
      event.preventDefault();
      void busy(go, slot, async () => {
        const solutionId = solution.value.trim();
        if (solutionId === '') throw new PersonError('INPUT', 'Type the solution id the operator gave you.');
        await options.signIn({ ...identity, solutionId }, await loadPrivateKey(identity.id));
        await setSolution(identity.id, solutionId);
      });
    };
    replace(main, form);
    solution.focus();
  };

  const saved =
    identities.length === 0
      ? null
      : h(
          'div',
          { class: 'stack' },
          h('h2', null, 'Sign in'),
          h(
            'ul',
            { class: 'identities' },
            ...identities.map((identity) => {
              const go = h('button', { type: 'button', class: 'primary', testid: `sign-in-${identity.userId}` }, `Sign in as ${identity.userId}`);
              go.onclick = () => void busy(go, errors, () => signIn(identity));
              const backup = h('button', { type: 'button', class: 'link', testid: `backup-${identity.userId}` }, 'Back up key');
              backup.onclick = () =>
                void busy(backup, errors, async () => {
                  const key = h('textarea', { rows: 2, readOnly: true, testid: 'backup-key', value: await loadPrivateKey(identity.id) });
                  errors.replaceChildren(
                    h(
                      'div',
                      { class: 'warning stack' },
                      h('strong', null, `${identity.userId}'s private key.`),
                      ' Whoever has it can sign in as you and read your rooms. Keep it somewhere safe (a password manager), never send it.',
                      key,
                      copyButton(key.value),
                    ),
                  );
                });
              const forget = h('button', { type: 'button', class: 'link danger' }, 'Forget');
              forget.onclick = async () => {
                if (!confirm(`Forget ${identity.userId} in this browser? Without a copy of its private key, it cannot sign in again.`)) return;
                await deleteIdentity(identity.id);
                await renderWelcome(root, options);
              };
              return h('li', null, go, h('code', { class: 'muted' }, shortKey(identity.id)), backup, forget);
            }),
          ),
        );

  const name = h('input', { type: 'text', placeholder: 'alice', testid: 'new-user-id', autocomplete: 'off', spellcheck: false, maxLength: 32 });
  const create = h('button', { type: 'submit', class: identities.length === 0 ? 'primary' : '', testid: 'create-identity' }, 'Create identity');
  const createForm = h(
    'form',
    { class: 'stack' },
    h('h2', null, identities.length === 0 ? 'Create your identity' : 'Or a new identity'),
    h(
      'p',
      { class: 'hint' },
      options.dev !== undefined
        ? `Pick a name. A key pair is made in this browser, and (dev mode) the name is registered in the "${options.dev.contextName}" context.`
        : 'Pick a name. A key pair is made in this browser; you give its public key to the operator.',
    ),
    h('div', { class: 'row' }, name, create),
  );
  createForm.onsubmit = (event) => {
    event.preventDefault();
    void busy(create, errors, async () => {
      const userId = name.value.trim();
      const problem = userIdProblem(userId);
      if (problem !== undefined) throw new PersonError('INPUT', problem);
      const pair = await generateKeyPair();
      const identity: StoredIdentity = { id: pair.publicKey, userId, solutionId: undefined, createdAt: Date.now() };
      // Dev mode: claim the name first, so a taken one keeps no identity in this browser.
      if (options.dev !== undefined) await devRegister(userId, pair.publicKey);
      await saveIdentity(identity, pair.privateKey);
      await signIn(identity);
    });
  };

  const pasteName = h('input', { type: 'text', placeholder: 'alice', autocomplete: 'off', spellcheck: false, maxLength: 32 });
  const pasteKey = h('textarea', { rows: 2, placeholder: 'srsk1…', spellcheck: false, autocomplete: 'off', testid: 'paste-key' });
  const importButton = h('button', { type: 'submit' }, 'Import and sign in');
  const importForm = h(
    'form',
    { class: 'stack' },
    field('Name', pasteName),
    field('Private key', pasteKey, 'Made by `sealroom keygen`. It is encrypted before it is stored in this browser, and never sent.'),
    importButton,
  );
  importForm.onsubmit = (event) => {
    event.preventDefault();
    void busy(importButton, errors, async () => {
      const userId = pasteName.value.trim();
      const problem = userIdProblem(userId);
      if (problem !== undefined) throw new PersonError('INPUT', problem);
      const privateKey = pasteKey.value.trim();
      let publicKey: string;
      try {
        publicKey = await publicKeyOf(privateKey);
      } catch {
        throw new PersonError('INPUT', 'That is not a sealroom private key (srsk1…, checksummed: check for a typo).');
      }
      pasteKey.value = '';
      const identity: StoredIdentity = { id: publicKey, userId, solutionId: undefined, createdAt: Date.now() };
      await saveIdentity(identity, privateKey);
      await signIn(identity);
    });
  };

  replace(
    main,
    h('h1', null, 'sealroom'),
    h('p', { class: 'lead' }, 'End-to-end encrypted rooms. The server relays only ciphertext; your private key stays in this browser.'),
    saved,
    createForm,
    h('details', null, h('summary', null, 'Use an existing private key'), importForm),
    errors,
  );
  if (identities.length === 0) name.focus();
}
