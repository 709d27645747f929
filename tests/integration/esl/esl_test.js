// esl_test.js -- drives evcastd's event socket with a real npm client (modesl).
//
// Usage: node esl_test.js HOST PORT PASSWORD   (env EVCAST, EVCAST_SOCKET: the
// CLI and the daemon's control socket, used to fire events with `evcast send`;
// REJECT_HOST: an address the ACL refuses; CYCLES: connect/disconnect cycles).
// Checks, each bounded by a timeout: auth; `event plain ALL` and `event json
// ALL` both receive events fired by `evcast send`; sendevent with headers and a
// body reaches both subscribers; api multicast_peers / status / version /
// unknown; bgapi -> Job-UUID and BACKGROUND_JOB; filter; wrong password ->
// -ERR invalid and the disconnect notice; ACL rejection (text/rude-rejection,
// byte for byte); the header and body limits; a slow reader losing the oldest
// events without stalling anyone; many connect/disconnect cycles. Only the
// given loopback addresses are contacted. Prints "ok: ..." per check, exits 1
// on the first failure.
'use strict';
const esl = require('modesl');
const net = require('net');
const { execFile } = require('child_process');

const [HOST, PORT_S, PASSWORD] = process.argv.slice(2);
const PORT = Number(PORT_S);
const EVCAST = process.env.EVCAST;
const SOCK = process.env.EVCAST_SOCKET;
const REJECT_HOST = process.env.REJECT_HOST || '';
const CYCLES = Number(process.env.CYCLES || 2000);
const RUDE = 'Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n';
const NOTICE = 'Content-Type: text/disconnect-notice\nContent-Length: 67\n\n' +
	'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';

function fail(msg) {
	console.error('FAIL: ' + msg);
	process.exit(1);
}
function ok(msg) { console.log('ok: ' + msg); }
function eq(a, b, what) {
	if (a !== b) fail(`${what}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`);
}
function withTimeout(p, ms, what) {
	let t;
	return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error('timeout: ' + what)), ms); })])
		.finally(() => clearTimeout(t));
}

// A modesl connection, authenticated; rejects on auth failure.
function connect(password = PASSWORD, host = HOST) {
	return new Promise((resolve, reject) => {
		const c = new esl.Connection(host, PORT, password);
		c.on('error', reject);
		c.on('esl::event::auth::success', () => resolve(c));
		c.on('esl::event::auth::fail', (evt) => reject(Object.assign(new Error('auth failed'), { evt, conn: c })));
	});
}
const sendRecv = (c, cmd, args) => new Promise((res) => c.sendRecv(cmd, args || null, res));
const api = (c, cmd, args) => new Promise((res) => c.api(cmd, args || '', res));

function evcastSend(name, sub, headers, body) {
	const args = ['-s', SOCK, 'send', name];
	if (sub) args.push(sub);
	for (const [k, v] of headers) args.push('-H', `${k}: ${v}`);
	if (body !== undefined) args.push('--body', body);
	return new Promise((res, rej) => execFile(EVCAST, args, { timeout: 10000 }, (err, out, errout) =>
		err ? rej(new Error(`evcast send: ${err.message} ${errout}`)) : res(out)));
}

// The next event of that subclass with header X-Test = tag.
function nextEvent(c, tag) {
	return new Promise((res) => {
		const h = (evt) => {
			if (evt.getHeader('X-Test') === tag) {
				c.removeListener('esl::event::CUSTOM::**', h);
				res(evt);
			}
		};
		c.on('esl::event::CUSTOM::**', h);
	});
}

// Raw TCP: everything the server sends until it closes (or ms pass).
function rawExchange(host, send, ms = 5000) {
	return new Promise((res, rej) => {
		const chunks = [];
		const s = net.connect({ host, port: PORT }, () => { if (send) s.write(send); });
		const t = setTimeout(() => { s.destroy(); res({ data: Buffer.concat(chunks).toString('latin1'), closed: false }); }, ms);
		s.on('data', (d) => chunks.push(d));
		s.on('error', (e) => { if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') { clearTimeout(t); rej(e); } });
		s.on('close', () => { clearTimeout(t); res({ data: Buffer.concat(chunks).toString('latin1'), closed: true }); });
	});
}

async function main() {
	// ---- auth, subscriptions
	const plain = await withTimeout(connect(), 5000, 'auth');
	ok('auth accepted (+OK accepted)');
	let r = await sendRecv(plain, 'event plain ALL');
	eq(r.getHeader('Reply-Text'), '+OK event listener enabled plain', 'event plain reply');
	const json = await withTimeout(connect(), 5000, 'auth 2');
	r = await sendRecv(json, 'event json ALL');
	eq(r.getHeader('Reply-Text'), '+OK event listener enabled json', 'event json reply');
	ok('event plain ALL / event json ALL');

	// ---- events fired by `evcast send` reach both
	const tag1 = 'fired-' + process.pid;
	const wp = nextEvent(plain, tag1), wj = nextEvent(json, tag1);
	await evcastSend('CUSTOM', 'test::esl', [['X-Test', tag1], ['X-Spaces', 'a b: c%d']], 'body from the CLI');
	const [ep, ej] = await withTimeout(Promise.all([wp, wj]), 5000, 'events from evcast send');
	for (const [e, kind] of [[ep, 'plain'], [ej, 'json']]) {
		eq(e.getHeader('Event-Name'), 'CUSTOM', kind + ' Event-Name');
		eq(e.getHeader('Event-Subclass'), 'test::esl', kind + ' Event-Subclass');
		eq(e.getHeader('X-Spaces'), 'a b: c%d', kind + ' header value');
		eq(e.getBody(), 'body from the CLI', kind + ' body');
		if (!e.getHeader('Core-UUID')) fail(kind + ': no Core-UUID');
	}
	ok('evcast send -> text/event-plain and text/event-json subscribers (headers, body)');

	// ---- sendevent from a client reaches both subscribers
	const tag2 = 'sendevent-' + process.pid;
	const ev = new esl.Event('CUSTOM', 'test::sendevent');
	ev.addHeader('X-Test', tag2);
	ev.addHeader('X-Num', '42');
	ev.addBody('hello from modesl');
	const wp2 = nextEvent(plain, tag2), wj2 = nextEvent(json, tag2);
	r = await withTimeout(new Promise((res) => json.sendEvent(ev, res)), 5000, 'sendevent reply');
	const reply = r.getHeader('Reply-Text');
	if (!/^\+OK [0-9a-f-]{36}$/.test(reply)) fail('sendevent reply: ' + reply);
	const [sp, sj] = await withTimeout(Promise.all([wp2, wj2]), 5000, 'sendevent delivery');
	eq(sp.getHeader('X-Num'), '42', 'sendevent header (plain)');
	eq(sj.getBody(), 'hello from modesl', 'sendevent body (json)');
	eq(sj.getHeader('Event-UUID'), reply.slice(4), 'Event-UUID = the uuid of the reply');
	ok('sendevent: ' + reply + ', delivered with headers and body');

	// ---- api
	r = await api(plain, 'multicast_peers');
	eq(r.getHeader('Content-Type'), 'api/response', 'api Content-Type');
	if (!/Multicast|Peer|peer/.test(r.getBody())) fail('multicast_peers: ' + r.getBody());
	r = await api(plain, 'status');
	if (!/^UP \d+ years, \d+ days, \d+ hours, \d+ minutes, \d+ seconds, \d+ milliseconds, \d+ microseconds\n/.test(r.getBody()))
		fail('status: ' + r.getBody());
	r = await api(plain, 'version');
	if (!/^evcast Version /.test(r.getBody())) fail('version: ' + r.getBody());
	r = await api(plain, 'no_such_cmd');
	eq(r.getBody(), '-ERR no_such_cmd Command not found!\n', 'unknown api');
	ok('api multicast_peers, status, version, unknown');

	// ---- bgapi
	const job = await withTimeout(new Promise((res) => json.bgapi('status', res)), 5000, 'bgapi');
	eq(job.getHeader('Event-Name'), 'BACKGROUND_JOB', 'bgapi event');
	if (!/^UP /.test(job.getBody())) fail('bgapi body: ' + job.getBody());
	ok('bgapi status -> BACKGROUND_JOB ' + job.getHeader('Job-UUID'));

	// ---- unknown command, filter
	r = await sendRecv(plain, 'frobnicate now');
	eq(r.getHeader('Reply-Text'), '-ERR command not found', 'unknown command');
	r = await sendRecv(json, 'filter X-Test only-this');
	eq(r.getHeader('Reply-Text'), '+OK filter added. [X-Test]=[only-this]', 'filter reply');
	let leaked = 0;
	const countLeak = (e) => { if (e.getHeader('X-Test') === 'not-this') leaked++; };
	json.on('esl::event::CUSTOM::**', countLeak);
	const wf = nextEvent(json, 'only-this');
	await evcastSend('CUSTOM', 'test::esl', [['X-Test', 'not-this']]);
	await evcastSend('CUSTOM', 'test::esl', [['X-Test', 'only-this']]);
	await withTimeout(wf, 5000, 'filtered event');
	eq(leaked, 0, 'events outside the filter');
	r = await sendRecv(json, 'filter delete X-Test only-this');
	eq(r.getHeader('Reply-Text'), '+OK filter deleted. [X-Test][only-this]', 'filter delete reply');
	json.removeListener('esl::event::CUSTOM::**', countLeak);
	ok('-ERR command not found; filter / filter delete');

	// ---- wrong password: -ERR invalid, then the disconnect notice and close
	try {
		await withTimeout(connect('not-the-password'), 5000, 'wrong password');
		fail('a wrong password was accepted');
	} catch (e) {
		if (!e.evt) throw e;
		eq(e.evt.getHeader('Reply-Text'), '-ERR invalid', 'wrong password reply');
	}
	let x = await rawExchange(HOST, 'auth nope\n\n');
	eq(x.data, 'Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: -ERR invalid\n\n' + NOTICE,
		'wrong password, raw bytes');
	if (!x.closed) fail('the connection stayed open after -ERR invalid');
	ok('wrong password: -ERR invalid + disconnect notice, closed');

	// ---- ACL: checked before auth/request
	if (REJECT_HOST) {
		x = await rawExchange(REJECT_HOST, null);
		eq(x.data, RUDE + NOTICE, 'ACL rejection bytes');
		if (!x.closed) fail('rejected connection left open');
		const rude = await withTimeout(new Promise((res) => {
			const c = new esl.Connection(REJECT_HOST, PORT, PASSWORD);
			c.on('error', () => {});
			c.on('esl::event::raw::text/rude-rejection', (e) => res(e.getBody()));
		}), 5000, 'modesl rude rejection');
		eq(rude, 'Access Denied, go away.\n', 'modesl sees the rejection');
		ok(`ACL: ${REJECT_HOST} gets text/rude-rejection "Access Denied, go away." and is closed`);
	}

	// ---- limits: header block over 64 KiB, body over 1 MiB
	x = await rawExchange(HOST, 'auth ' + PASSWORD + '\n\nsendevent CUSTOM\nX-Big: ' + 'a'.repeat(70000) + '\n\n');
	if (!/Reply-Text: -ERR message too large/.test(x.data) || !x.closed) fail('header limit: ' + x.data.slice(0, 300));
	// (the body is announced, not sent: unread bytes at close would turn the FIN into a RST)
	x = await rawExchange(HOST, 'auth ' + PASSWORD + '\n\nsendevent CUSTOM\nContent-Length: 2000000\n\n');
	if (!/Reply-Text: -ERR message too large/.test(x.data) || !x.closed) fail('body limit: ' + x.data.slice(0, 300));
	x = await rawExchange(HOST, '\x00\xff\x01garbage without end of line', 300);
	if (!x.data.startsWith('Content-Type: auth/request\n\n')) fail('garbage: ' + x.data);
	ok('64 KiB header block / 1 MiB body: -ERR and close; binary garbage survived');

	// ---- a slow reader loses the oldest events; the others keep up
	const slow = net.connect({ host: HOST, port: PORT });
	await new Promise((res) => slow.once('connect', res));
	slow.write(`auth ${PASSWORD}\n\nevent plain ALL\n\n`);
	await new Promise((res) => setTimeout(res, 200));
	slow.pause(); // never reads again
	const N = Number(process.env.SLOW_EVENTS || 30000);
	const pub = net.connect({ host: HOST, port: PORT });
	await new Promise((res) => pub.once('connect', res));
	let replies = 0;
	let carry = '';
	pub.on('data', (d) => { // count whole replies across chunk boundaries
		const text = carry + d.toString('latin1');
		const parts = text.split('\n\n');
		carry = parts.pop();
		for (const p of parts) if (/^Content-Type: command\/reply\nReply-Text: \+OK [0-9a-f-]{36}$/.test(p)) replies++;
	});
	pub.write(`auth ${PASSWORD}\n\n`);
	const filler = 'x'.repeat(400);
	const lastTag = 'slow-last-' + process.pid;
	const wlast = nextEvent(json, lastTag);
	let batch = '';
	for (let i = 0; i < N; i++) {
		batch += `sendevent CUSTOM\nEvent-Subclass: test::flood\nX-Test: ${i === N - 1 ? lastTag : 'flood'}\nX-Fill: ${filler}\n\n`;
		if (batch.length > 65536) { pub.write(batch); batch = ''; }
	}
	pub.write(batch);
	await withTimeout(wlast, 60000, 'the json subscriber receiving the last flood event');
	await withTimeout(new Promise((res) => { const t = setInterval(() => { if (replies >= N) { clearInterval(t); res(); } }, 50); }),
		60000, 'all sendevent replies');
	r = await api(plain, 'evcast_stats');
	const st = JSON.parse(r.getBody());
	if (!(st.control.events_dropped > 0)) fail('slow client: no events dropped: ' + JSON.stringify(st.control));
	ok(`slow reader: ${st.control.events_dropped} oldest events dropped and counted; ${N} sendevents answered; ` +
		'the fast subscriber got the last one');
	slow.destroy();
	pub.end();

	// ---- many connect/disconnect cycles (modesl, and raw partial lines)
	const t0 = Date.now();
	let done = 0;
	const PAR = 8;
	async function worker(k) {
		for (let i = k; i < CYCLES; i += PAR) {
			if (i % 2 === 0) {
				const c = await withTimeout(connect(), 10000, 'cycle ' + i);
				if (i % 4 === 0) {
					const rr = await api(c, 'version');
					if (!/^evcast Version/.test(rr.getBody())) fail('cycle api');
				}
				c.disconnect();
			} else {
				await new Promise((res) => {
					const s = net.connect({ host: HOST, port: PORT }, () => {
						s.write(i % 3 ? 'auth ' + PASSWORD + '\n\nevent json ALL\n\napi sta' : 'partial line without end');
						s.destroy();
						res();
					});
					s.on('error', res);
				});
			}
			done++;
		}
	}
	await withTimeout(Promise.all(Array.from({ length: PAR }, (_, k) => worker(k))), 240000, 'cycles');
	ok(`${done} connect/disconnect cycles in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

	// still serving
	r = await api(plain, 'status');
	if (!/^UP /.test(r.getBody())) fail('status after the cycles');
	r = await sendRecv(plain, 'exit');
	eq(r.getHeader('Reply-Text'), '+OK bye', 'exit reply');
	json.disconnect();
	ok('daemon still answers after the cycles; exit -> +OK bye');
	console.log('esl_test: all checks passed');
	process.exit(0);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
