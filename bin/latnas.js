#!/usr/bin/env node
// The CLI is TypeScript compiled to dist/ by `npm install` (the `prepare` script).
import { main } from '../dist/src/cli/index.js';
main(process.argv);
