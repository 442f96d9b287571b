/**
 * Safety numbers (docs/security/key-trust.md): 60 digits, the same on both people's screens when each
 * holds the other's real key. The person compares them out of band (in person, on a call), then marks
 * the user verified (`verifyUser`); a verified user's later key change is refused until compared again.
 */
import { h, replace } from '../dom.ts';
import { groupSafetyNumber } from '../format.ts';
import type { Session } from '../session.ts';
import { busy, errorBox } from '../ui.ts';

export function safetyPanel(session: Session, contextId: string, userId: string, onVerified: () => void): HTMLElement {
  const panel = h('div', { class: 'safety', testid: `safety-${userId}` }, h('p', { class: 'muted' }, 'Computing…'));
  void (async () => {
    try {
      const digits = await session.streamApi.safetyNumber(contextId, userId);
      const verify = h('button', { type: 'button', class: 'small primary', testid: `verify-${userId}` }, 'They match: mark verified');
      const slot = h('div', { class: 'slot' });
      verify.onclick = () =>
        void busy(verify, slot, async () => {
          await session.streamApi.verifyUser(contextId, userId, digits);
          session.verified.add(`${contextId}/${userId}`);
          onVerified();
        });
      replace(
        panel,
        h('p', { class: 'hint' }, `Compare with the number on ${userId}'s screen, in person or on a call.`),
        h('div', { class: 'digits', testid: `safety-number-${userId}` }, ...groupSafetyNumber(digits).map((g) => h('span', null, g))),
        session.verified.has(`${contextId}/${userId}`) ? h('p', { class: 'ok' }, '✓ Verified on this device') : verify,
        slot,
      );
    } catch (error) {
      replace(panel, errorBox(error));
    }
  })();
  return panel;
}
