// The waiting-room page: sign in, join an event's line, follow the ticket
// (the waiting-room stream, or polling at the server's pace where the
// stream cannot be had), and go to the storefront with the admission pass
// once admitted. No framework: plain DOM and fetch.
(function () {
  'use strict';
  var api = '/api/v1';
  var store = window.sessionStorage;
  var $ = function (id) { return document.getElementById(id); };
  var root = $('room');
  var storefront = root.getAttribute('data-storefront') || '';
  var eventId = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/').pop());
  var firstKey = 'evently.wait.' + eventId + '.first';
  var source = null;
  var pollTimer = 0;
  var streamFailures = 0;
  var lastSpoken = '';
  var stopped = false;

  function tokens() {
    return { access: store.getItem('evently.access_token'), refresh: store.getItem('evently.refresh_token') };
  }
  function saveSession(s) {
    store.setItem('evently.access_token', s.access_token);
    store.setItem('evently.refresh_token', s.refresh_token);
  }
  function clearSession() {
    store.removeItem('evently.access_token');
    store.removeItem('evently.refresh_token');
  }

  function show(id) {
    ['signin', 'join', 'ticket'].forEach(function (s) { $(s).hidden = s !== id; });
    $('signout-button').hidden = id === 'signin' || !tokens().access;
  }
  function say(text) {
    if (text === lastSpoken) { return; }
    lastSpoken = text;
    $('status').textContent = text;
  }
  function fail(text) {
    $('error').textContent = text;
    $('error').hidden = !text;
  }
  function problemText(body, fallback) {
    return (body && (body.detail || body.title)) || fallback;
  }

  async function request(method, path, body, auth) {
    var headers = { 'Accept': 'application/json' };
    if (body !== undefined) { headers['Content-Type'] = 'application/json'; }
    var t = tokens();
    if (auth && t.access) { headers['Authorization'] = 'Bearer ' + t.access; }
    var resp = await fetch(api + path, {
      method: method, headers: headers, credentials: 'omit',
      body: body === undefined ? undefined : JSON.stringify(body)
    });
    var data = null;
    if (resp.status !== 204) {
      try { data = await resp.json(); } catch (e) { data = null; }
    }
    return { status: resp.status, body: data, headers: resp.headers };
  }

  // call is an authenticated request that renews an expired access token
  // once with the refresh token.
  async function call(method, path) {
    var r = await request(method, path, undefined, true);
    if (r.status === 401 && tokens().refresh) {
      var s = await request('POST', '/auth/refresh', { refresh_token: tokens().refresh }, false);
      if (s.status !== 200) { clearSession(); return r; }
      saveSession(s.body);
      r = await request(method, path, undefined, true);
    }
    return r;
  }

  async function loadEvent() {
    var r = await request('GET', '/events/' + encodeURIComponent(eventId), undefined, false);
    if (r.status !== 200) {
      $('event-name').textContent = r.status === 404 || r.status === 400 ? 'No such event' : 'The event cannot be shown right now';
      return false;
    }
    var e = r.body;
    $('event-name').textContent = e.name;
    document.title = e.name + ' · waiting room';
    var when = new Date(e.starts_at);
    $('event-meta').textContent = [e.venue, isNaN(when) ? '' : when.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })]
      .filter(Boolean).join(' · ');
    return true;
  }

  async function start() {
    fail('');
    if (!tokens().access) { show('signin'); return; }
    var r = await call('GET', '/events/' + eventId + '/waiting-room');
    if (r.status === 401) { clearSession(); show('signin'); return; }
    if (r.status === 404) { show('join'); return; }
    if (r.status !== 200) { show('join'); fail(problemText(r.body, 'The waiting room cannot be reached; try again.')); return; }
    render(r.body);
    follow();
  }

  async function signIn(register) {
    fail('');
    var email = $('email').value.trim();
    var password = $('password').value;
    if (!email || !password) { fail('Enter your e-mail and password.'); return; }
    var buttons = [$('signin-button'), $('register-button')];
    buttons.forEach(function (b) { b.disabled = true; });
    try {
      var r = register
        ? await request('POST', '/auth/register', { email: email, password: password, name: $('name').value.trim() }, false)
        : await request('POST', '/auth/login', { email: email, password: password }, false);
      if (r.status !== 200 && r.status !== 201) {
        fail(problemText(r.body, 'Signing in failed; try again.'));
        return;
      }
      saveSession(r.body);
      $('password').value = '';
      await start();
    } finally {
      buttons.forEach(function (b) { b.disabled = false; });
    }
  }

  async function join() {
    fail('');
    $('join-button').disabled = true;
    $('rejoin-button').disabled = true;
    try {
      var r = await call('POST', '/events/' + eventId + '/waiting-room');
      if (r.status === 401) { clearSession(); show('signin'); return; }
      if (r.status !== 200) { fail(problemText(r.body, 'Joining failed; try again.')); return; }
      store.removeItem(firstKey);
      render(r.body);
      follow();
      $('position').focus();
    } finally {
      $('join-button').disabled = false;
      $('rejoin-button').disabled = false;
    }
  }

  function minutes(seconds) {
    if (seconds < 60) { return '< 1 min'; }
    return '~' + Math.round(seconds / 60) + ' min';
  }
  function minutesSpoken(seconds) {
    if (seconds < 60) { return 'under a minute'; }
    var m = Math.round(seconds / 60);
    return m === 1 ? 'about 1 minute' : 'about ' + m + ' minutes';
  }

  function render(t) {
    show('ticket');
    $('rejoin-button').hidden = true;
    $('pass-box').hidden = true;
    var bar = $('progress');
    if (t.status === 'waiting' && t.position != null) {
      var first = Math.max(Number(store.getItem(firstKey)) || 0, t.position);
      store.setItem(firstKey, String(first));
      $('ticket-title').textContent = 'You are in line';
      $('position').textContent = String(t.position);
      $('eta').textContent = minutes(t.estimated_wait_seconds);
      bar.value = Math.round(100 * (first - t.position + 1) / (first + 1));
      $('hint').textContent = 'Keep this page open: it moves on its own, and takes you to checkout when it is your turn.';
      say('You are number ' + t.position + ' in line. Estimated wait ' + minutesSpoken(t.estimated_wait_seconds) + '.');
    } else if (t.status === 'pre_queue') {
      $('ticket-title').textContent = 'You are in the line for the opening';
      $('position').textContent = '–';
      $('eta').textContent = 'at opening';
      bar.removeAttribute('value');
      $('hint').textContent = 'When sales open, everyone who joined before is given a place in random order, so there is no need to hurry.';
      say('You are in the pre-queue. Places are drawn at random when sales open.');
    } else if (t.status === 'admitted') {
      $('ticket-title').textContent = 'It is your turn';
      $('position').textContent = '0';
      $('eta').textContent = 'now';
      bar.value = 100;
      var until = t.admitted_until ? new Date(t.admitted_until) : null;
      store.setItem('evently.admission.' + eventId, t.pass || '');
      stop();
      if (storefront && t.pass) {
        $('hint').textContent = 'Taking you to checkout…';
        say('It is your turn. Taking you to checkout.');
        location.assign(storefrontURL(t.pass));
        return;
      }
      $('hint').textContent = until ? 'Book before ' + until.toLocaleTimeString([], { timeStyle: 'short' }) + '.' : 'Book now.';
      $('pass').textContent = t.pass || '';
      $('pass-box').hidden = !t.pass;
      say('It is your turn. You have been admitted.');
    } else if (t.status === 'expired') {
      stop();
      $('ticket-title').textContent = 'Your turn has passed';
      $('position').textContent = '–';
      $('eta').textContent = '–';
      bar.value = 0;
      $('hint').textContent = 'Your admission lapsed before you booked. You can join the line again.';
      $('rejoin-button').hidden = false;
      say('Your admission has expired.');
    } else if (t.status === 'sold_out') {
      $('ticket-title').textContent = 'Sold out';
      $('position').textContent = '–';
      $('eta').textContent = '–';
      bar.value = 0;
      $('hint').textContent = 'Every seat has been sold. Join the waitlist to keep your place in line: if seats come back, they are offered in line order. This page moves on its own if seats come back.';
      say('The event has sold out. Join the waitlist to keep your place in line.');
    }
  }

  function storefrontURL(pass) {
    var u = new URL(storefront, location.href);
    u.searchParams.set('event_id', eventId);
    u.hash = 'admission=' + encodeURIComponent(pass);
    return u.toString();
  }

  function stop() {
    stopped = true;
    if (source) { source.close(); source = null; }
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = 0; }
  }

  // follow keeps the ticket current: the stream while it works, else
  // polling at poll_after_ms.
  function follow() {
    stop();
    stopped = false;
    if (!window.EventSource || streamFailures >= 3) { pollTimer = setTimeout(poll, 0); return; }
    var url = api + '/events/' + eventId + '/waiting-room/stream?access_token=' + encodeURIComponent(tokens().access || '');
    source = new EventSource(url);
    source.addEventListener('ticket', function (e) {
      streamFailures = 0;
      render(JSON.parse(e.data));
    });
    source.addEventListener('problem', function () {
      stop();
      show('join');
    });
    source.onerror = function () {
      if (source && source.readyState === EventSource.CLOSED) {
        // Refused (an expired token, live updates unavailable): poll,
        // which renews the token, then try the stream again.
        source = null;
        streamFailures++;
        pollTimer = setTimeout(poll, 1000);
      }
    };
  }

  async function poll() {
    pollTimer = 0;
    var wait = 5000;
    try {
      var r = await call('GET', '/events/' + eventId + '/waiting-room');
      if (r.status === 401) { clearSession(); stop(); show('signin'); return; }
      if (r.status === 404) { stop(); show('join'); return; }
      if (r.status === 200) {
        render(r.body);
        if (r.body.status !== 'waiting' && r.body.status !== 'pre_queue') { return; }
        if (window.EventSource && streamFailures > 0 && streamFailures < 3) { follow(); return; }
        wait = r.body.poll_after_ms || wait;
      } else {
        var after = Number(r.headers.get('Retry-After'));
        if (after > 0) { wait = after * 1000; }
      }
    } catch (e) {
      say('Connection lost; retrying…');
    }
    pollTimer = setTimeout(poll, wait);
  }

  $('signin-form').addEventListener('submit', function (e) { e.preventDefault(); signIn(false); });
  $('register-button').addEventListener('click', function () { signIn(true); });
  $('join-button').addEventListener('click', join);
  $('rejoin-button').addEventListener('click', join);
  $('signout-button').addEventListener('click', function () { stop(); clearSession(); show('signin'); });
  $('position').tabIndex = -1;

  loadEvent().then(function (ok) { if (ok) { start(); } });
})();
