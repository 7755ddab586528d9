import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/data.js';

/** The Slips sensor's eve.json (real Suricata 6 output, see data/README.md). */
export const SLIPS = join(REPO_ROOT, 'test', 'suricata', 'data', 'slips-test6-malicious.suricata.json.gz');
