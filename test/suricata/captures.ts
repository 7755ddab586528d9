// The shared captures the Suricata tests run Suricata on, and the rules they run it with (ours,
// written for these captures, so that alert events exist on http, dns, tls and icmp flows).
import { dataPath } from '../helpers/data.js';

export const TEST_RULES = [
  'alert http any any -> any any (msg:"flowwatch test: wikimedia host"; http.host; content:"wikimedia"; sid:9000001; rev:1;)',
  'alert dns any any -> any any (msg:"flowwatch test: wikimedia query"; dns.query; content:"wikimedia"; sid:9000002; rev:1;)',
  'alert tls any any -> any any (msg:"flowwatch test: tls sni"; tls.sni; content:"."; sid:9000003; rev:1;)',
  'alert icmp any any -> any any (msg:"flowwatch test: icmp echo request"; itype:8; sid:9000004; rev:1;)',
  '',
].join('\n');

export interface Capture {
  name: string;
  /**
   * Suricata's per-direction packet and byte counts equal tshark's frame counts for every flow.
   * Not on ipfixprobe-tls (two connections where Suricata counts 4 fewer server packets, the ones
   * tshark flags as retransmitted/out of order: Suricata's stream engine, not our parser), nor on
   * zeek-ipv6-fragmented-dns (Suricata counts the reassembled datagram, tshark each fragment), nor
   * where ICMP errors quote inner headers (tshark prints the inner ports beside the outer ones).
   */
  counts: boolean;
}

export const CAPTURES: Capture[] = [
  { name: 'zeek-wikipedia', counts: true }, // dns + http, alerts on http and dns
  { name: 'zeek-tls-ecdhe', counts: true },
  { name: 'ipfixprobe-tls', counts: false }, // alerts carrying tls.sni
  { name: 'ipfixprobe-dns', counts: true },
  { name: 'zeek-ipv6-fragmented-dns', counts: false }, // IPv6, expanded address text
  { name: 'zeek-communityid-icmp', counts: true },
  { name: 'zeek-communityid-icmp6', counts: false },
  { name: 'zeek-communityid-udp', counts: true },
  { name: 'zeek-mixed-vlan-mpls', counts: true }, // vlan
  { name: 'ipfixprobe-vlan', counts: true },
];

export function pcapPath(name: string): string {
  return dataPath('pcap', 'normal', `${name}.pcap`);
}
