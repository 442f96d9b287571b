/**
 * A Bridge in a process of its own, for tests that kill one for real (SIGKILL: its sockets die with
 * it, it says goodbye to nobody, as a crashed machine does): endpoint/failover.test.ts.
 *
 *   node --import tsx test/procs/bridge-proc.ts '<json of createBridge options>'
 *
 * Prints one JSON line `{"url": ...}` once it listens; exits when its stdin closes (the test is gone).
 */
import { createBridge } from '../../bridge/index.ts';

// The test process gone (its end of stdin closed), this Bridge goes too: none is left running.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof createBridge>[0];
const bridge = await createBridge({ logLevel: 'silent', ...options });
process.stdout.write(`${JSON.stringify({ url: bridge.url })}\n`);
