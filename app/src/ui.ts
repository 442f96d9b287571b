/** Shared pieces of the app's screens: error boxes, busy buttons, confirmation. */
import { h } from './dom.ts';
import { describeError } from './messages.ts';

/** An alert with the human message and, small, the stable code (for a bug report). */
export function errorBox(error: unknown, testid = 'error'): HTMLElement {
  const shown = describeError(error);
  return h('div', { class: 'error', testid, attrs: { role: 'alert' } }, shown.message, ' ', h('code', { class: 'code' }, shown.code));
}

/** Shows `error` in `slot` (or clears it with undefined). */
export function showError(slot: HTMLElement, error: unknown): void {
  slot.replaceChildren(...(error === undefined ? [] : [errorBox(error)]));
}

/**
 * Runs `action` with `button` disabled and marked busy; its error lands in `slot`. Returns whether it
 * succeeded, so a caller can go on.
 */
export async function busy(button: HTMLButtonElement, slot: HTMLElement, action: () => Promise<void>): Promise<boolean> {
  button.disabled = true;
  button.classList.add('busy');
  showError(slot, undefined);
  try {
    await action();
    return true;
  } catch (error) {
    showError(slot, error);
    return false;
  } finally {
    button.disabled = false;
    button.classList.remove('busy');
  }
}

/** A labelled field. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), control, hint === undefined ? null : h('span', { class: 'hint' }, hint));
}

/** A button that copies `text` to the clipboard. */
export function copyButton(text: string, testid?: string): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'small', testid }, 'Copy');
  button.onclick = () => {
    void navigator.clipboard?.writeText(text).then(
      () => (button.textContent = 'Copied'),
      () => (button.textContent = 'Select and copy'),
    );
  };
  return button;
}
