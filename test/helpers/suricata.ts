// Suricata as the source of real eve.json for the Suricata tests: each test process runs it once per
// (capture, rules) on the shared pcaps and reads the eve.json it writes. A config of our own (not the
// system's /etc/suricata/suricata.yaml) fixes what is logged: community-id on, the event types the
// parser reads, no sensor-name, so the output depends only on the Suricata version and the capture.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export const HAVE_SURICATA = (() => {
  try {
    execFileSync('suricata', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

// HOME_NET any: our rules use any/any, and the default groups would make Suricata warn.
const CONFIG = `%YAML 1.1
---
vars:
  address-groups:
    HOME_NET: "any"
    EXTERNAL_NET: "any"
  port-groups:
    HTTP_PORTS: "80"
stats:
  enabled: no
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      community-id: true
      types:
        - alert
        - http
        - dns
        - tls
        - flow
app-layer:
  protocols:
    tls:
      enabled: yes
    http:
      enabled: yes
    dns:
      tcp:
        enabled: yes
      udp:
        enabled: yes
logging:
  default-log-level: warning
  outputs:
    - console:
        enabled: yes
`;

let root = '';
const runs = new Map<string, Promise<string>>();

function workDir(): string {
  if (root === '') {
    root = mkdtempSync(join(tmpdir(), 'flowwatch-suricata-'));
    writeFileSync(join(root, 'suricata.yaml'), CONFIG);
    process.on('exit', () => rmSync(root, { recursive: true, force: true }));
  }
  return root;
}

export interface SuricataRun {
  /** Rules text (one rule a line); none: no alerts, only protocol and flow events. */
  rules?: string;
}

/**
 * Run Suricata on `pcap` (offline, checksums ignored, one thread) and return the path of the
 * eve.json it wrote. The same (pcap, rules) in one process gives the same file: flow_id carries a
 * per-run random part, so every check of one test file must read the same run.
 */
export function runSuricata(pcap: string, opts: SuricataRun = {}): Promise<string> {
  const rules = opts.rules ?? '';
  const key = createHash('sha256').update(pcap).update('\0').update(rules).digest('hex').slice(0, 16);
  let p = runs.get(key);
  if (p === undefined) {
    p = run(pcap, rules, key);
    runs.set(key, p);
  }
  return p;
}

function run(pcap: string, rules: string, key: string): Promise<string> {
  const base = workDir();
  const dir = join(base, `${basename(pcap).replace(/\W+/g, '_')}-${key}`);
  mkdirSync(dir, { recursive: true });
  const args = ['-c', join(base, 'suricata.yaml'), '-r', pcap, '-l', dir, '-k', 'none', '--runmode', 'single'];
  if (rules !== '') {
    writeFileSync(join(dir, 'test.rules'), rules);
    args.push('-S', join(dir, 'test.rules'));
  } else {
    // -S with an empty file: no rule set at all (not the default rules of the system config).
    writeFileSync(join(dir, 'empty.rules'), '');
    args.push('-S', join(dir, 'empty.rules'));
  }
  return new Promise((resolve, reject) => {
    execFile('suricata', args, { maxBuffer: 1 << 24 }, (err, _out, stderr) => {
      if (err) reject(new Error(`suricata ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(join(dir, 'eve.json'));
    });
  });
}
