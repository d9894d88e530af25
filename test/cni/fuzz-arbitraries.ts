// fast-check generators for CNI requests: the CNI_* environment, the network configuration
// (stdin) and prevResult. Each of the 13 fields is valid with a probability of 4/5, so about one
// case in forty is a fully valid ADD that really wires a pod; most others have one or two bad
// fields and fail validation early, which is cheap. Invalid values are the kinds runtimes and operators get wrong plus random
// strings. Paths that the plugin could create are never random: only the harness's own dirs,
// dirs that cannot be created, or invalid ones, so a case can leave nothing outside the harness.
import fc from 'fast-check';

export interface FuzzWorld {
  pinDir: string;
  stateDir: string;
  podCIDR: string;
  /** Network namespaces of test pods (valid CNI_NETNS values). */
  podNetns: readonly string[];
  /** A regular file, a directory and a FIFO (CNI_NETNS that exist but are no netns). */
  notNetns: readonly string[];
  /** A pin dir path under /sys/fs/bpf with nothing loaded (code 50). */
  emptyPinDir: string;
  /** A directory that is not on a bpffs. */
  plainDir: string;
}

export interface FuzzCase {
  env: Record<string, string | undefined>;
  stdin: string;
  /** Every input was chosen from the valid side (the case should succeed). */
  allValid: boolean;
}

/** valid with weight 4, invalid with weight 1; the flag says which side was taken. */
function either<T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>): fc.Arbitrary<{ v: T; ok: boolean }> {
  return fc.oneof(
    { weight: 4, arbitrary: valid.map((v) => ({ v, ok: true })) },
    { weight: 1, arbitrary: invalid.map((v) => ({ v, ok: false })) },
  );
}

const ABSENT = Symbol('absent');
type Maybe<T> = T | typeof ABSENT;

const junkString = fc.oneof(fc.string({ maxLength: 24 }), fc.string({ unit: 'binary', maxLength: 24 }), fc.constantFrom('', ' ', '\t', '#', '../..', '/', '\u00e0', 'é'.repeat(8)));
const junkJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1.5, 1e309 as unknown, '', [], {}),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
);

function ifnames(): fc.Arbitrary<{ v: Maybe<string>; ok: boolean }> {
  const valid = fc.constantFrom('eth0', 'e#x', 'net1', 'ñ0', "q'x\"z", 'a-b_c.d');
  const invalid = fc.oneof(
    fc.constantFrom<Maybe<string>>(ABSENT, '', '.', '..', 'a/b', 'a:b', 'a b', 'x\u00e0', 'é'.repeat(8), 'abcdefghijklmnop', 'eth0\n'),
    junkString.filter((s) => s !== 'eth0'),
  );
  return either<Maybe<string>>(valid, invalid);
}

function containerIds(): fc.Arbitrary<{ v: Maybe<string>; ok: boolean }> {
  const valid = fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{4,20}$/).map((s) => `fz${s}`);
  const invalid = fc.oneof(fc.constantFrom<Maybe<string>>(ABSENT, '', '-x', 'a b', 'a/b', '../x', 'x;y'), junkString);
  return either<Maybe<string>>(valid, invalid);
}

function netnsPaths(w: FuzzWorld): fc.Arbitrary<{ v: Maybe<string>; ok: boolean }> {
  const valid = fc.constantFrom(...w.podNetns);
  const invalid = fc.oneof(
    fc.constantFrom<Maybe<string>>(ABSENT, '', '/run/netns/pw-fuzz-none', 'run/netns/x', '1', '/proc/self/ns/net', '/proc/self/ns/mnt', ...w.notNetns),
    junkString,
  );
  return either<Maybe<string>>(valid, invalid);
}

function cniArgs(): fc.Arbitrary<{ v: Maybe<string>; ok: boolean }> {
  const valid = fc.constantFrom('IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=fz', '', 'K8S_POD_UID=u;X=y');
  const invalid = fc.oneof(fc.constantFrom<Maybe<string>>('novalue', '=x', ';;=;'), junkString.filter((s) => s.length > 0 && !/^[^=;]+=[^;]*$/.test(s)));
  return either<Maybe<string>>(valid, invalid);
}

const badPaths = (w: FuzzWorld): fc.Arbitrary<unknown> =>
  fc.constantFrom<unknown>('/proc/pwfuzz', '/sys/pwfuzz', '/sys/fs/bpf', 'rel/dir', '/var/lib/../x', '//x', 7, null, ['/x'], '/x\u0000y', w.plainDir);

function config(w: FuzzWorld, command: string): fc.Arbitrary<{ text: string; ok: boolean }> {
  const version = either(fc.constantFrom('1.1.0', '1.0.0', '0.4.0'), fc.oneof(fc.constantFrom<unknown>('9.9.9', '0.1.0', '', 1, null, '1.1'), junkString));
  const podCIDR = either<unknown>(
    fc.constant(w.podCIDR),
    fc.oneof(
      fc.constantFrom<unknown>(undefined, '127.0.0.0/24', '169.254.1.0/24', '224.0.0.0/24', '240.0.0.0/24', '0.0.0.0/8', '10.0.0.0/31', '10.0.0.0/4', '10.1.2.3/24', '10.0.0.0', 42),
      fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(40)).map(([a, b, c, d, p]) => `${a}.${b}.${c}.${d}/${p}`),
      junkString,
    ),
  );
  const mtu = either<unknown>(fc.constantFrom(undefined, 1500, 1450, 576), fc.oneof(fc.integer(), fc.constantFrom<unknown>('1500', 1500.5, null, 575, 65536)));
  const pinDir = either<unknown>(fc.constant(w.pinDir), fc.oneof(badPaths(w), fc.constant(w.emptyPinDir)));
  const stateDir = either<unknown>(fc.constant(w.stateDir), badPaths(w));
  const extras = either<Record<string, unknown>>(
    fc.constantFrom({}, { type: 'podwire' }, { unknownKey: 1 }, { capabilities: { portMappings: true } }),
    fc.constantFrom<Record<string, unknown>>({ podcidr: '10.0.0.0/24' }, { ipam: { type: 'host-local' } }, { PinDir: '/x' }, { name: 5 }),
  );
  const prevResult = either<unknown>(
    fc.constantFrom(undefined, { cniVersion: '1.1.0', interfaces: [], ips: [] }),
    fc.oneof(
      junkJson,
      fc.record({ interfaces: junkJson, ips: junkJson, routes: junkJson }, { requiredKeys: [] }),
      fc.record({ ips: fc.array(fc.record({ address: junkJson, interface: junkJson, gateway: junkJson }, { requiredKeys: [] }), { maxLength: 3 }) }),
    ),
  );
  const attachments = either<unknown>(fc.constant([]), fc.oneof(junkJson, fc.array(fc.record({ containerID: junkJson, ifname: junkJson }, { requiredKeys: [] }), { maxLength: 2 })));
  const rawJunk = fc.oneof(junkString, fc.constantFrom('', '{', '{"cniVersion":', '[]', 'null', '{}'.repeat(3)));

  const structured = fc
    .record({ version, podCIDR, mtu, pinDir, stateDir, extras, prevResult, attachments })
    .map((r) => {
      const conf: Record<string, unknown> = {
        cniVersion: r.version.v,
        name: 'podwire-fuzz',
        type: 'podwire',
        podCIDR: r.podCIDR.v,
        pinDir: r.pinDir.v,
        stateDir: r.stateDir.v,
        ...r.extras.v,
      };
      if (r.mtu.v !== undefined) conf['mtu'] = r.mtu.v;
      if (r.prevResult.v !== undefined) conf['prevResult'] = r.prevResult.v;
      if (command === 'GC') conf['cni.dev/valid-attachments'] = r.attachments.v;
      const ok = [r.version, r.podCIDR, r.mtu, r.pinDir, r.stateDir, r.extras, r.prevResult, r.attachments].every((x) => x.ok);
      return { text: JSON.stringify(conf), ok };
    });
  return fc.oneof({ weight: 19, arbitrary: structured }, { weight: 1, arbitrary: rawJunk.map((text) => ({ text, ok: false })) });
}

export function fuzzCases(w: FuzzWorld): fc.Arbitrary<FuzzCase> {
  const command = either(
    fc.constantFrom('ADD', 'ADD', 'ADD', 'ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'),
    fc.oneof(fc.constantFrom<Maybe<string>>(ABSENT, 'add', 'ATTACH', ''), junkString),
  );
  return command.chain((cmd) =>
    fc.record({ id: containerIds(), netns: netnsPaths(w), ifname: ifnames(), args: cniArgs(), conf: config(w, typeof cmd.v === 'string' ? cmd.v : '') }).map((r) => {
      const val = (m: Maybe<string>) => (m === ABSENT ? undefined : m);
      return {
        env: {
          CNI_COMMAND: val(cmd.v),
          CNI_CONTAINERID: val(r.id.v),
          CNI_NETNS: val(r.netns.v),
          CNI_IFNAME: val(r.ifname.v),
          CNI_ARGS: val(r.args.v),
          CNI_PATH: '/usr/lib/cni',
        },
        stdin: r.conf.text,
        allValid: cmd.ok && r.id.ok && r.netns.ok && r.ifname.ok && r.args.ok && r.conf.ok,
      };
    }),
  );
}

/** Error codes a spec-conforming podwire may answer with (999 = an internal error: a bug). */
export const SPEC_CODES: ReadonlySet<number> = new Set([1, 2, 3, 4, 5, 6, 7, 11, 50, 51]);
