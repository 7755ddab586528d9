// The filter language as analysts type it (DESIGN §4): every example of the brief parses to the
// comparison it means, and mistakes get a message that names the column and points at it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { describeFields, FilterError, type FilterExpr, filterFields, parseFilter } from '../../src/filter/index.js';
import { formatAddrWords } from '../../src/pipeline/flow-batch.js';
import { findColumn } from '../../src/schema/columns.js';

/** A compact, hand-checkable rendering of the checked tree. */
function show(e: FilterExpr): string {
  switch (e.kind) {
    case 'all':
      return 'all';
    case 'and':
    case 'or':
      return `(${show(e.left)} ${e.kind} ${show(e.right)})`;
    case 'not':
      return `not ${show(e.expr)}`;
    case 'cmp': {
      const col = findColumn(e.columns[0]);
      const vals = e.values.map((v): string => {
        switch (v.kind) {
          case 'number':
            return e.type === 'enum' ? (col?.enumValues?.[v.value] ?? '?') : String(v.value);
          case 'string':
            return JSON.stringify(v.value);
          case 'glob':
            return JSON.stringify(v.pattern);
          case 'bool':
            return String(v.value);
          case 'range': {
            const w = new Uint32Array(4);
            for (let i = 0; i < 4; i++) w[i] = Number((v.lo >> BigInt(96 - 32 * i)) & 0xffffffffn);
            const text = formatAddrWords(w, 0);
            if (v.lo === v.hi) return text;
            const bits = 128 - (v.hi - v.lo).toString(2).length;
            return `${text}/${text.includes(':') ? bits : bits - 96}`;
          }
          default:
            return '?';
        }
      });
      const rhs = e.op === 'present' ? '' : ` ${vals.length === 1 ? vals[0] : `[${vals.join(', ')}]`}`;
      return `${e.columns.join('|')} ${e.op}${rhs}`;
    }
  }
}

const p = (text: string) => show(parseFilter(text));

test('the examples of DESIGN §4 and the brief', () => {
  assert.equal(
    p('proto tcp and dst port 22 and not src net 10.0.0.0/8'),
    '((proto = 6 and dst_port = 22) and not src_addr = 10.0.0.0/8)',
  );
  assert.equal(p('tcp and port 443'), '(proto = 6 and src_port|dst_port = 443)');
  assert.equal(
    p('src tag web and dst tag database and not dst port in [5432, 6432]'),
    '((src_tags = "web" and dst_tags = "database") and not dst_port = [5432, 6432])',
  );
  assert.equal(
    p('direction ingress and dst tag datastore and not src tag vm'),
    '((direction = ingress and dst_tags = "datastore") and not src_tags = "vm")',
  );
  assert.equal(p('bytes > 10M and dst country not in [US, DE]'), '(bytes > 10000000 and dst_country != ["US", "DE"])');
  assert.equal(p('action reject and src host "build-01"'), '(action = reject and src_host = "build-01")');
  assert.equal(p('ti and not dst port 53'), '(ti_feeds present and not dst_port = 53)');
  assert.equal(
    p('tls_sni ~ "*.example.com" or dns_qname ~ "*.evil.test"'),
    '(tls_sni ~ "*.example.com" or dns_qname ~ "*.evil.test")',
  );
  assert.equal(
    p('host 192.0.2.1 or dst ip 2001:db8::/32'),
    '(src_addr|dst_addr = 192.0.2.1 or dst_addr = 2001:db8::/32)',
  );
  assert.equal(
    p('dst_port >= 1024 && !(proto udp) || exporter = "10.0.0.1"'),
    '((dst_port >= 1024 and not proto = 17) or exporter = "10.0.0.1")',
  );
  assert.equal(p('packets < 5 and tcp_flags = 2'), '(packets < 5 and tcp_flags = 2)');
});

test('precedence, prefixes, aliases and value forms', () => {
  assert.equal(p('tcp or udp and port 53'), '(proto = 6 or (proto = 17 and src_port|dst_port = 53))');
  assert.equal(p('(tcp or udp) and any port 53'), '((proto = 6 or proto = 17) and src_port|dst_port = 53)');
  assert.equal(p('not not tcp'), 'not not proto = 6');
  assert.equal(p('PROTO TCP AND DST PORT 22'), '(proto = 6 and dst_port = 22)');
  assert.equal(p('dst_port == 22'), 'dst_port = 22');
  assert.equal(p('port != 22'), 'src_port|dst_port != 22');
  assert.equal(p('dst port in [22]'), 'dst_port = 22');
  assert.equal(p('dst port [22, 23]'), 'dst_port = [22, 23]');
  assert.equal(p('bytes > 1.5k'), 'bytes > 1500');
  assert.equal(p('bytes >= 2G'), 'bytes >= 2000000000');
  assert.equal(p('tcp_flags = 0x12'), 'tcp_flags = 18');
  assert.equal(p('flags 2'), 'tcp_flags = 2');
  assert.equal(p('src as 64512 or dst asn 15169'), '(src_asn = 64512 or dst_asn = 15169)');
  assert.equal(p('src ip 10.1.2.3/8'), 'src_addr = 10.0.0.0/8'); // host bits ignored, as nfdump
  assert.equal(p('net 2001:db8::/32'), 'src_addr|dst_addr = 2001:db8::/32');
  assert.equal(p('src_addr ~ 192.0.2.0/24'), 'src_addr = 192.0.2.0/24');
  assert.equal(p('next_hop = ::1 or nexthop 192.0.2.1'), '(next_hop = ::1 or next_hop = 192.0.2.1)');
  // host: an address goes to the address columns, a name to the asset-name columns.
  assert.equal(p('host build-01'), 'src_host|dst_host = "build-01"');
  assert.equal(p('dst host ~ "db-*"'), 'dst_host ~ "db-*"');
  assert.equal(p('src host 2001:db8::1'), 'src_addr = 2001:db8::1');
  assert.equal(p('hostname "build-01"'), 'src_host|dst_host = "build-01"');
  // enums: names in any case, or the standard's number (RFC 5102 flowEndReason 2 = active timeout)
  assert.equal(p('action REJECT'), 'action = reject');
  assert.equal(p('end_reason 2'), 'end_reason = active');
  assert.equal(p('source_type in [aws_vpc, ipfix]'), 'source_type = [aws_vpc, ipfix]');
  // booleans and lists alone
  assert.equal(p('biflow'), 'biflow present');
  assert.equal(p('biflow false'), 'biflow = false');
  assert.equal(p('not ti'), 'not ti_feeds present');
  assert.equal(p('tags web'), 'src_tags|dst_tags = "web"');
  // times: ISO 8601 is UTC, with or without the Z; milliseconds as they are
  const t = Date.UTC(2024, 4, 1, 10, 0, 0);
  assert.equal(p('time_start >= 2024-05-01T10:00:00Z'), `time_start >= ${t}`);
  assert.equal(p('time_start >= 2024-05-01T10:00:00'), `time_start >= ${t}`);
  assert.equal(p('time_start >= 2024-05-01T12:00:00+02:00'), `time_start >= ${t}`);
  assert.equal(p(`time_end < ${t}`), `time_end < ${t}`);
  assert.equal(p('src_mac = 00:11:22:33:44:55'), `src_mac = ${0x001122334455}`);
  // strings: quoted with escapes, or bare words
  assert.equal(p(`app = 'say "hi"'`), 'app = "say \\"hi\\""');
  assert.equal(p('app = "a\\"b"'), 'app = "a\\"b"');
  assert.equal(p('tls_sni ~ *.EXAMPLE.com'), 'tls_sni ~ "*.example.com"');
  assert.equal(p(''), 'all');
  assert.equal(p('   '), 'all');
});

test('filterFields lists the columns a filter reads', () => {
  assert.deepEqual(filterFields(parseFilter('tcp and port 443 and not dst tag web')), [
    'proto',
    'src_port',
    'dst_port',
    'dst_tags',
  ]);
  assert.deepEqual(filterFields(parseFilter('')), []);
});

test('describeFields is derived from the declaration', () => {
  const f = describeFields();
  const port = f.find((x) => x.name === 'dst_port');
  assert.equal(port?.keyword, 'port');
  assert.equal(port?.type, 'u16');
  assert.deepEqual(f.find((x) => x.name === 'src_addr')?.aliases, ['ip', 'host', 'net']);
  assert.ok(f.every((x) => x.description.length > 0));
});

function err(text: string): FilterError {
  try {
    parseFilter(text);
  } catch (e) {
    assert.ok(e instanceof FilterError, `${text}: ${e}`);
    return e;
  }
  assert.fail(`no error for ${text}`);
}

test('errors name the problem, point at its column and suggest the nearest field', () => {
  let e = err('tcp and dst_prot 22');
  assert.equal(e.message, 'unknown field "dst_prot" at column 9; did you mean "dst_port"?');
  assert.equal(e.position, 9);
  assert.equal(e.suggestion, 'dst_port');
  assert.equal(err('src_tag web').suggestion, 'src_tags');
  assert.equal(err('protocol tcp').suggestion, 'proto');
  e = err('frobnicate 1');
  assert.equal(e.message, 'unknown field "frobnicate" at column 1');
  assert.equal(e.suggestion, undefined);

  e = err('dst port');
  assert.equal(e.message, 'expected a value after "port" at column 9');
  assert.equal(e.position, 9);
  assert.equal(err('dst country and tcp').message, 'expected a value after "country" at column 13');

  e = err('tcp and dst_port abc');
  assert.equal(e.message, '"abc" is not a number for dst_port at column 18');
  assert.equal(e.position, 18);
  e = err('action rejected');
  assert.equal(e.message, 'unknown value "rejected" for action at column 8 (one of: unknown, accept, reject)');
  assert.equal(e.position, 8);

  assert.equal(err('dst_port > 70000').message, '70000 is out of range for dst_port (0..65535) at column 12');
  assert.equal(err('proto 256').position, 7);
  assert.equal(err('bytes > 1.5').message, '"1.5" is not a number for bytes at column 9');
  assert.match(
    err('src ip 10.0.0.300').message,
    /^"10\.0\.0\.300" is not an IP address or CIDR for src_addr at column 8$/,
  );
  assert.match(err('net 10.0.0.0/33').message, /not an IP address or CIDR/);
  assert.match(err('time_start > yesterday').message, /not a time for time_start at column 14/);
  assert.match(err('biflow maybe').message, /not a boolean for biflow/);
  assert.match(err('dst_port ~ "2*"').message, /^operator "~" does not apply to dst_port \(u16\) at column 10/);
  assert.match(err('tls_sni > "a"').message, /^operator ">" does not apply to tls_sni/);
  assert.match(err('src bytes 5').message, /^"src" does not apply to bytes at column 1/);
  e = err('(tcp or udp');
  assert.equal(e.message, 'expected ")" at column 12 to close "(" at column 1');
  assert.equal(err('tcp udp').message, 'unexpected "udp" at column 5; expected "and", "or" or the end');
  assert.equal(err('tcp & udp').suggestion, '&&');
  assert.equal(err('app = "abc').message, 'unterminated string starting at column 7');
  assert.match(err('dst port in 22').message, /expected "\[" at column 13/);
  assert.match(err('port < [1, 2]').message, /list of values needs/);
  assert.match(err('port in [1 2]').message, /expected "," or "\]" at column 12/);
  assert.match(err('tcp and').message, /expected a field at column 8/);
  assert.match(err('and tcp').message, /expected a field at column 1/);
});

test('any text either parses or fails with a FilterError (never another exception)', () => {
  const pieces = fc.constantFrom(
    ...['(', ')', '[', ']', ',', '=', '!=', '<', '~', '!', '&&', '||', 'and', 'or', 'not', 'in', 'src', 'dst', 'any'],
    ...['port', 'host', 'ip', 'tag', 'ti', 'biflow', 'action', 'bytes', 'tcp', 'proto', 'time_start', 'src_mac'],
    ...['22', '10M', '1.5', '10.0.0.0/8', '::1', 'fe80::/300', '"x', '"a b"', "'q'", 'reject', '*', '2024-01-01', ' '],
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.array(pieces, { maxLength: 12 }).map((a) => a.join(' ')),
      ),
      (text) => {
        try {
          parseFilter(text);
        } catch (e) {
          if (!(e instanceof FilterError)) throw e;
          assert.ok(e.position >= 1 && e.position <= text.length + 1, `${text}: position ${e.position}`);
        }
      },
    ),
    { numRuns: 3000 },
  );
  assert.equal(err(`${'not '.repeat(100_000)}tcp`).message, 'filter nested too deeply at column 801');
  assert.equal(err(`${'('.repeat(100_000)}tcp`).position, 201);
});
