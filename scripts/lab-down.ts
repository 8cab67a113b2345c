/** npm run lab:down -- [--name up]: removes the lab that lab:up left running (namespaces, processes, files). */
import { parseArgs } from 'node:util';
import { Lab } from '../lab/lab.js';

const { values } = parseArgs({ options: { name: { type: 'string', default: 'up' } } });
const removed = await Lab.down(values.name);
console.log(removed.length > 0 ? `lab "${values.name}" removed: ${removed.join(', ')}` : `no lab "${values.name}" was up`);
