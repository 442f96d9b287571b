/**
 * Entry point of the built CLI (`make build` bundles it to dist/bridge/sealroom.mjs, which `make run`
 * starts on plain node). bin/sealroom.js runs the same CLI from the TypeScript sources through tsx.
 */
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
