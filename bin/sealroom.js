#!/usr/bin/env node
// The `sealroom` command. The sources are TypeScript; tsx compiles them on load.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../bridge/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
