/** What the browser test page gets: the Endpoint library and the crypto backend's name. */
import { backend } from '../../crypto/backend/index.ts';
import { Endpoint } from '../../endpoint/index.ts';

declare global {
  interface Window {
    sealroom: { Endpoint: typeof Endpoint; backendName: () => string };
  }
}

window.sealroom = { Endpoint, backendName: () => backend().name };
