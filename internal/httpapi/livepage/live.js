// The organiser's live on-sale view: sign an admin in, then follow the
// event's funnel stream (whose events carry the waiting room's figures
// too), or poll the funnel where the stream cannot be had, and show the
// figures, a per-minute chart and, in a polite live region, the changes
// that matter (sold out, the room paused or reopened, the line emptied).
// No framework: plain DOM and fetch.
(function () {
  'use strict';
  var api = '/api/v1';
  var store = window.sessionStorage;
  var $ = function (id) { return document.getElementById(id); };
  var svgNS = 'http://www.w3.org/2000/svg';
  var eventId = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/').pop());
  var funnelPath = '/admin/analytics/events/' + encodeURIComponent(eventId) + '/funnel';
  var pollEvery = 5000;
  var source = null;
  var pollTimer = 0;
  var streamFailures = 0;
  var last = null;
  var lastSpoken = '';

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
    ['signin', 'refused', 'dashboard'].forEach(function (s) { $(s).hidden = s !== id; });
    $('signout-button').hidden = id !== 'dashboard';
    if (id !== 'dashboard') { connection(''); }
  }
  function say(text) {
    if (!text || text === lastSpoken) { return; }
    lastSpoken = text;
    $('status').textContent = text;
  }
  function fail(text) {
    $('error').textContent = text;
    $('error').hidden = !text;
  }
  function connection(state) {
    var el = $('connection');
    el.hidden = !state;
    el.className = 'connection' + (state === 'live' ? ' live' : '');
    el.textContent = state === 'live' ? '● Live' : state === 'polling' ? 'Checking every ' + pollEvery / 1000 + ' s' : state;
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

  // call is an authenticated GET that renews an expired access token once
  // with the refresh token.
  async function call(path) {
    var r = await request('GET', path, undefined, true);
    if (r.status === 401 && tokens().refresh) {
      var s = await request('POST', '/auth/refresh', { refresh_token: tokens().refresh }, false);
      if (s.status !== 200) { clearSession(); return r; }
      saveSession(s.body);
      r = await request('GET', path, undefined, true);
    }
    return r;
  }

  function refuse(text) {
    stop();
    clearSession();
    $('refused-text').textContent = text;
    show('refused');
    say('Refused: this account is not an admin account.');
    $('switch-button').focus();
  }

  // start checks the session against the funnel (401: sign in; 403: not
  // an admin; 404: no such event) and, once it answers, follows it.
  async function start() {
    fail('');
    if (!tokens().access) { show('signin'); return; }
    var r = await call(funnelPath);
    if (r.status === 401) { clearSession(); show('signin'); return; }
    if (r.status === 403) {
      refuse('The live view is for organisers: this account is not an admin account. Sign in with an admin account to see the on-sale.');
      return;
    }
    if (r.status === 404) {
      stop();
      show('');
      $('event-name').textContent = 'No such event';
      fail('There is no event with this id.');
      return;
    }
    if (r.status !== 200) {
      // Signed in, but the figures cannot be read now (503): try again.
      stop();
      show('');
      fail(problemText(r.body, 'The figures cannot be read right now.') + ' Trying again in ' + pollEvery / 1000 + ' seconds.');
      pollTimer = setTimeout(start, pollEvery);
      return;
    }
    show('dashboard');
    loadEvent();
    render(r.body);
    follow();
  }

  async function loadEvent() {
    var r = await call('/events/' + encodeURIComponent(eventId));
    if (r.status !== 200) { return; }
    var e = r.body;
    $('event-name').textContent = e.name;
    document.title = e.name + ' · live on-sale';
    var when = new Date(e.starts_at);
    $('event-meta').textContent = [e.venue, isNaN(when) ? '' : when.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }),
      e.status === 'published' ? '' : e.status].filter(Boolean).join(' · ');
  }

  async function signIn() {
    fail('');
    var email = $('email').value.trim();
    var password = $('password').value;
    if (!email || !password) { fail('Enter your e-mail and password.'); return; }
    $('signin-button').disabled = true;
    try {
      var r = await request('POST', '/auth/login', { email: email, password: password }, false);
      if (r.status !== 200) {
        fail(problemText(r.body, 'Signing in failed; try again.'));
        return;
      }
      $('password').value = '';
      if (r.body.user && r.body.user.role !== 'admin') {
        refuse('You signed in as ' + r.body.user.email + ', which is not an admin account. The live view is for organisers: sign in with an admin account.');
        return;
      }
      saveSession(r.body);
      await start();
    } finally {
      $('signin-button').disabled = false;
    }
  }

  function count(n) { return n == null ? '–' : Number(n).toLocaleString(); }
  function percent(r) { return r == null ? '–' : (Math.round(r * 1000) / 10) + '%'; }
  function duration(s) {
    if (s == null) { return '–'; }
    if (s < 60) { return (Math.round(s * 10) / 10) + ' s'; }
    if (s < 3600) { return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s'; }
    return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
  }
  function clock(t) { return t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); }
  function set(id, text) {
    var el = $(id);
    if (el.textContent !== text) { el.textContent = text; }
  }

  function render(f) {
    var room = f.room || {};
    set('window', '· ' + clock(new Date(f.from)) + '–' + clock(new Date(f.to)));
    set('joined', count(f.joined));
    set('admitted', count(f.admitted));
    set('admit-rate', percent(f.admit_rate) + ' of joined');
    set('held', count(f.held));
    set('hold-rate', percent(f.hold_rate) + ' of admitted');
    set('confirmed', count(f.confirmed));
    set('confirm-rate', percent(f.confirm_rate) + ' of held');
    set('cancelled', count(f.cancelled));
    set('expired', count(f.expired));
    set('abandoned', count(f.abandoned));

    set('waiting', count(room.waiting));
    set('active', count(room.active));
    set('admitted-last-minute', count(room.admitted_last_minute) + ' /min');
    set('admit-per-minute', count(room.admit_per_minute) + ' /min');
    set('admit-mode', room.admit_mode === 'auto'
      ? 'the room: ' + count(room.admit_min_per_minute) + '–' + count(room.admit_max_per_minute) +
        ' /min, p95 under ' + room.target_p95_ms + ' ms'
      : 'the organiser');
    set('room-state', room.enabled ? '· open' : '· off: everyone may book');

    set('queue-p50', duration(f.queue_wait_p50_seconds));
    set('queue-p90', duration(f.queue_wait_p90_seconds));
    set('hold-p50', duration(f.admission_to_hold_p50_seconds));
    set('hold-p90', duration(f.admission_to_hold_p90_seconds));
    set('confirm-p50', duration(f.hold_to_confirm_p50_seconds));
    set('confirm-p90', duration(f.hold_to_confirm_p90_seconds));
    set('expiry-rate', percent(f.hold_expiry_rate));

    set('seats-left', count(f.seats_left));
    set('seats-per-minute', (Math.round(f.seats_per_minute * 100) / 100) + ' /min');
    var forecast;
    if (f.seats_left === 0) {
      forecast = 'Sold out';
    } else if (f.forecast_sold_out_at) {
      var at = new Date(f.forecast_sold_out_at);
      var mins = Math.max(0, Math.round((at - new Date(f.as_of)) / 60000));
      var away = mins < 1 ? 'under a minute' : mins < 120 ? mins + ' min' : mins < 2880 ? Math.round(mins / 60) + ' h' : Math.round(mins / 1440) + ' days';
      forecast = (mins < 720 ? clock(at) : at.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })) + ' (in ' + away + ')';
    } else {
      forecast = 'Nothing selling yet';
    }
    set('forecast', forecast);
    set('as-of', 'Figures as of ' + new Date(f.as_of).toLocaleTimeString());
    chart(f.series || []);
    announce(f, room);
    last = f;
  }

  // announce speaks the changes an organiser should not miss.
  function announce(f, room) {
    if (!last) {
      say(f.seats_left === 0 ? 'Live figures loaded. The event is sold out.' : 'Live figures loaded.');
      return;
    }
    var was = last.room || {};
    if (f.seats_left === 0 && last.seats_left !== 0) {
      say('Sold out: every seat is sold.');
    } else if (f.seats_left > 0 && last.seats_left === 0) {
      say('Seats are back on sale: ' + count(f.seats_left) + ' left.');
    } else if (room.enabled !== was.enabled) {
      say(room.enabled ? 'The waiting room is open.' : 'The waiting room is off: everyone may book.');
    } else if (room.waiting === 0 && was.waiting > 0) {
      say('The line is empty.');
    }
  }

  function el(name, attrs, text) {
    var e = document.createElementNS(svgNS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  // chart draws the per-minute series: one line each for tickets taken,
  // admissions, bookings made and confirmations.
  function chart(series) {
    var svg = $('chart');
    // Drawn at the size it is shown, so that the labels keep their shape.
    var W = Math.max(320, Math.round(svg.getBoundingClientRect().width) || 720), H = 200;
    var left = 40, right = 8, top = 10, bottom = 22;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    var keys = ['joined', 'admitted', 'held', 'confirmed'];
    var max = 2;
    series.forEach(function (m) { keys.forEach(function (k) { max = Math.max(max, m[k]); }); });
    max = Math.ceil(max / 2) * 2;
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var x = function (i) { return left + (series.length < 2 ? 0 : i * (W - left - right) / (series.length - 1)); };
    var y = function (v) { return top + (H - top - bottom) * (1 - v / max); };
    [0, max / 2, max].forEach(function (v) {
      svg.appendChild(el('line', { 'class': 'grid', x1: left, x2: W - right, y1: y(v), y2: y(v) }));
      svg.appendChild(el('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(Math.round(v))));
    });
    if (series.length > 0) {
      svg.appendChild(el('text', { x: left, y: H - 6 }, clock(new Date(series[0].at))));
      svg.appendChild(el('text', { x: W - right, y: H - 6, 'text-anchor': 'end' }, clock(new Date(series[series.length - 1].at))));
    }
    keys.forEach(function (k) {
      var pts = series.map(function (m, i) { return x(i).toFixed(1) + ',' + y(m[k]).toFixed(1); }).join(' ');
      svg.appendChild(el('polyline', { 'class': k, points: pts }));
    });
    var peak = series.reduce(function (p, m) { return m.joined > p.joined ? m : p; }, { joined: 0 });
    $('chart-summary').textContent = series.length + ' minutes. ' + (peak.joined > 0
      ? 'Busiest minute for joins: ' + count(peak.joined) + ' at ' + clock(new Date(peak.at)) + '.'
      : 'Nobody has joined the line in this window.');
  }

  function stop() {
    if (source) { source.close(); source = null; }
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = 0; }
  }

  // follow keeps the figures current: the stream while it works, else
  // polling every pollEvery.
  function follow() {
    stop();
    if (!window.EventSource || streamFailures >= 3) { connection('polling'); pollTimer = setTimeout(poll, pollEvery); return; }
    source = new EventSource(api + funnelPath + '/stream?access_token=' + encodeURIComponent(tokens().access || ''));
    source.addEventListener('funnel', function (e) {
      streamFailures = 0;
      connection('live');
      render(JSON.parse(e.data));
    });
    source.addEventListener('problem', function (e) {
      var p = null;
      try { p = JSON.parse(e.data); } catch (err) { p = null; }
      stop();
      streamFailures = 3;
      fail(problemText(p, 'The live figures stopped.'));
      connection('polling');
      pollTimer = setTimeout(poll, pollEvery);
    });
    source.onerror = function () {
      if (source && source.readyState === EventSource.CLOSED) {
        // Refused (an expired token, live updates unavailable): poll,
        // which renews the token, then try the stream again.
        source = null;
        streamFailures++;
        connection('polling');
        say('Live updates interrupted; checking every ' + pollEvery / 1000 + ' seconds.');
        pollTimer = setTimeout(poll, 1000);
      } else {
        connection('Reconnecting…');
      }
    };
  }

  async function poll() {
    pollTimer = 0;
    try {
      var r = await call(funnelPath);
      if (r.status === 401) { stop(); clearSession(); show('signin'); return; }
      if (r.status === 403) { refuse('This account is no longer an admin account.'); return; }
      if (r.status === 200) {
        fail('');
        render(r.body);
        if (window.EventSource && streamFailures > 0 && streamFailures < 3) { follow(); return; }
      }
    } catch (e) {
      connection('Connection lost; retrying…');
    }
    pollTimer = setTimeout(poll, pollEvery);
  }

  window.addEventListener('resize', function () { if (last) { chart(last.series || []); } });
  $('signin-form').addEventListener('submit', function (e) { e.preventDefault(); signIn(); });
  $('switch-button').addEventListener('click', function () { fail(''); show('signin'); $('email').focus(); });
  $('signout-button').addEventListener('click', function () {
    stop();
    clearSession();
    last = null;
    $('signin-form').reset();
    show('signin');
    say('Signed out.');
  });

  start();
})();
