package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/waitroom"
)

// WaitingRooms keeps the virtual waiting rooms. Each event's room is eight
// keys sharing the hash tag {<event>} (one Redis Cluster slot), so that
// every script below is atomic on one slot:
//
//	waitroom:{E}          hash: next (ticket counter), serving, waiting,
//	                      total (admitted so far), units and at (the
//	                      admission token bucket and when it was filled);
//	                      once the room has opened, opened, prebase and
//	                      pre (the pre-queue's numbers are prebase+1 to
//	                      prebase+pre); soldout (ms) while the event is
//	                      sold out, told once those waiting were notified
//	waitroom:{E}:tickets  hash: user → "number:joined_ms", with
//	                      ":admitted_ms:until_ms" appended on admission;
//	                      number 0 while in the pre-queue
//	waitroom:{E}:numbers  hash: number → user, for numbers still waiting
//	                      (outside the pre-queue's range)
//	waitroom:{E}:pre      sorted set: the pre-queue, users scored by their
//	                      random key; frozen at the opening, when rank r
//	                      becomes number prebase+r+1 (leavers stay in it
//	                      from then on, so that ranks hold still; their
//	                      ticket is gone, so the line skips them)
//	waitroom:{E}:active   sorted set: admitted users scored by admission
//	                      expiry (ms), trimmed as they lapse
//	waitroom:{E}:window   sorted set: the last minute's admission batches
//	                      ("serving:count" scored by time)
//	waitroom:{E}:chain    string "chain:step": the admission chain that
//	                      holds the room and the step it expects next,
//	                      with a lease TTL
//	waitroom:{E}:revoked  sorted set: admission numbers given up by
//	                      leaving, scored by when they would have lapsed
//	waitroom:{E}:funnel   hash: "j:<minute>" and "a:<minute>", the tickets
//	                      taken and admissions given in each minute (unix
//	                      minutes), for the funnel report
//	waitroom:{E}:waits    sorted set: one member
//	                      "number:wait_ms:until_ms:user" per admission,
//	                      scored by when it was given (members written
//	                      before the user was kept are "number:wait_ms")
//
// The two funnel keys are the funnel's counting; WithoutFunnel leaves them
// out (benchmarks compare the two).
//
// Opening is O(1) whatever the pre-queue's size: the shuffle is the order
// of keys drawn at join, and opening only freezes it and gives it its
// numbers. A poll reads two hash fields (and, for a pre-queue member after
// the opening, one ZRANK: O(log n)); the booking check is one sorted-set
// score.
type WaitingRooms struct {
	rdb goredis.UniversalClient
	// count is "1" when the scripts count the funnel, "0" when not.
	count string
}

var _ waitroom.Queue = (*WaitingRooms)(nil)

// RoomOption adjusts the waiting rooms.
type RoomOption func(*WaitingRooms)

// WithoutFunnel turns the funnel counting off: the join and admission
// scripts then write neither the per-minute counters nor the admissions'
// waits, and the funnel report reads no joins or admissions. Benchmarks
// use it to measure what the counting costs.
func WithoutFunnel() RoomOption { return func(w *WaitingRooms) { w.count = "0" } }

// NewWaitingRooms returns the waiting rooms on rdb, counting the funnel
// unless told otherwise.
func NewWaitingRooms(rdb goredis.UniversalClient, opts ...RoomOption) *WaitingRooms {
	w := &WaitingRooms{rdb: rdb, count: "1"}
	for _, o := range opts {
		o(w)
	}
	return w
}

const (
	// chainLease is how long an admission chain holds a room without
	// running. It must exceed the pause between runs (1s admitting, 5s
	// idle) plus asynq's forwarding delay; when a chain dies (a crash
	// lost its task) the room is free again this long after its last run,
	// and the next join or re-arm starts a new chain.
	chainLease = 30 * time.Second
	// roomKeep is how long a room's keys outlive its last join or
	// admission run.
	roomKeep = 7 * 24 * time.Hour
	// maxWalk bounds the numbers one admission run steps over (numbers of
	// users who left are skipped without using up the rate).
	maxWalk = 10_000
)

type roomKeys struct {
	room, tickets, numbers, active, window, chain, pre, revoked, funnel, waits string
}

func keysOf(eventID uuid.UUID) roomKeys {
	p := "waitroom:{" + eventID.String() + "}"
	return roomKeys{
		room:    p,
		tickets: p + ":tickets",
		numbers: p + ":numbers",
		active:  p + ":active",
		window:  p + ":window",
		chain:   p + ":chain",
		pre:     p + ":pre",
		revoked: p + ":revoked",
		funnel:  p + ":funnel",
		waits:   p + ":waits",
	}
}

// luaFields splits a ticket "a:b:c:d" into numbers.
const luaFields = `
local function fields(s)
  local out = {}
  for f in string.gmatch(s, '[^:]+') do out[#out + 1] = tonumber(f) end
  return out
end
`

// luaOpen opens a room (room and pre are its keys): idempotent and O(1).
// The pre-queue, frozen in key order, takes the numbers after the last
// one given; later joins take numbers after it.
const luaOpen = `
local function open(room, pre)
  if redis.call('HEXISTS', room, 'opened') == 1 then return end
  local nxt = tonumber(redis.call('HGET', room, 'next')) or 0
  local p = redis.call('ZCARD', pre)
  redis.call('HSET', room, 'opened', 1, 'prebase', nxt, 'pre', p, 'next', nxt + p)
end
`

// luaResolve gives a pre-queue ticket (number 0) its number once the room
// has opened: prebase + rank + 1. It returns the ticket and, for one still
// in the pre-queue of a room not yet open, the pre-queue's size.
const luaResolve = `
local function resolve(room, pre, user, t)
  if string.sub(t, 1, 2) ~= '0:' then return t, 0 end
  if redis.call('HEXISTS', room, 'opened') == 0 then return t, redis.call('ZCARD', pre) end
  local r = redis.call('ZRANK', pre, user)
  if not r then return t, 0 end
  return ((tonumber(redis.call('HGET', room, 'prebase')) or 0) + r + 1) .. string.sub(t, 2), 0
end
`

// joinScript: KEYS room, tickets, numbers, active, chain, pre, funnel; ARGV user,
// now_ms, chain id, lease_ms, keep_ms, open (1|0), key, count the funnel
// (1|0). Returns {ticket, serving, armed, pre-queue size, sold out at (ms,
// 0 if not)}.
var joinScript = goredis.NewScript(luaFields + luaOpen + luaResolve + `
local now = tonumber(ARGV[2])
if ARGV[6] == '1' then open(KEYS[1], KEYS[6]) end
local serving = tonumber(redis.call('HGET', KEYS[1], 'serving')) or 0
local t = redis.call('HGET', KEYS[2], ARGV[1])
if t then
  local f = fields(t)
  if f[1] ~= 0 and f[1] <= serving then
    if f[4] and f[4] > now then return {t, serving, 0, 0, tonumber(redis.call('HGET', KEYS[1], 'soldout')) or 0} end
    -- the admission lapsed: queue again at the back
    redis.call('ZREM', KEYS[4], ARGV[1])
    t = false
  end
end
if not t then
  if redis.call('HEXISTS', KEYS[1], 'opened') == 1 then
    local n = redis.call('HINCRBY', KEYS[1], 'next', 1)
    t = n .. ':' .. ARGV[2]
    redis.call('HSET', KEYS[3], n, ARGV[1])
  else
    t = '0:' .. ARGV[2]
    redis.call('ZADD', KEYS[6], ARGV[7], ARGV[1])
  end
  redis.call('HSET', KEYS[2], ARGV[1], t)
  redis.call('HINCRBY', KEYS[1], 'waiting', 1)
  for _, k in ipairs({KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6]}) do redis.call('PEXPIRE', k, ARGV[5]) end
  if ARGV[8] == '1' then
    redis.call('HINCRBY', KEYS[7], 'j:' .. math.floor(now / 60000), 1)
    redis.call('PEXPIRE', KEYS[7], ARGV[5])
  end
end
local armed = 0
if redis.call('SET', KEYS[5], ARGV[3] .. ':0', 'NX', 'PX', ARGV[4]) then armed = 1 end
local rt, queued = resolve(KEYS[1], KEYS[6], ARGV[1], t)
return {rt, serving, armed, queued, tonumber(redis.call('HGET', KEYS[1], 'soldout')) or 0}
`)

// placeScript: KEYS room, tickets, pre; ARGV user, open (1|0). Returns
// {ticket, serving, pre-queue size, sold out at (ms, 0 if not)} or nil.
var placeScript = goredis.NewScript(luaOpen + luaResolve + `
local t = redis.call('HGET', KEYS[2], ARGV[1])
if ARGV[2] == '1' then open(KEYS[1], KEYS[3]) end
if not t then return false end
local rt, queued = resolve(KEYS[1], KEYS[3], ARGV[1], t)
return {rt, tonumber(redis.call('HGET', KEYS[1], 'serving')) or 0, queued,
  tonumber(redis.call('HGET', KEYS[1], 'soldout')) or 0}
`)

// leaveScript: KEYS room, tickets, numbers, active, pre, revoked; ARGV
// user, now_ms, keep_ms. Returns the ticket given up (its pre-queue
// number resolved) or nil. An admission still running is recorded in
// revoked until it would have lapsed.
var leaveScript = goredis.NewScript(luaFields + luaResolve + `
local now = tonumber(ARGV[2])
local t = redis.call('HGET', KEYS[2], ARGV[1])
if not t then return false end
local rt = resolve(KEYS[1], KEYS[5], ARGV[1], t)
local f = fields(t)
if f[1] == 0 then
  -- in the pre-queue: before the opening, out of it; after, its rank
  -- stays taken (the line skips it) so that every other rank holds
  if redis.call('HEXISTS', KEYS[1], 'opened') == 0 then redis.call('ZREM', KEYS[5], ARGV[1]) end
  redis.call('HINCRBY', KEYS[1], 'waiting', -1)
elseif f[1] > (tonumber(redis.call('HGET', KEYS[1], 'serving')) or 0) then
  redis.call('HDEL', KEYS[3], f[1])
  redis.call('HINCRBY', KEYS[1], 'waiting', -1)
elseif f[4] and f[4] > now then
  redis.call('ZADD', KEYS[6], f[4], f[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
  redis.call('PEXPIRE', KEYS[6], ARGV[3])
end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return {rt, tonumber(redis.call('HGET', KEYS[1], 'serving')) or 0}
`)

// admitScript runs one admission step. KEYS room, tickets, numbers,
// active, window, chain, pre, funnel, waits. ARGV now_ms, chain id, step, lease_ms,
// keep_ms, paused (1|0), admit_per_minute, max_active (0: no cap),
// admission_ttl_ms, burst (admissions), start (admissions), max walk, open
// (1|0), capacity (admissions the inventory allows; -1: no cap), sold out
// (1|0), count the funnel (1|0). Returns {outcome, admitted, waiting, active, total, last_minute,
// released, sold out at (ms, 0 if not), told (1|0)}; outcome 0 ran, 1
// already ran, 2 stale.
//
// A run told the event is sold out marks the room so (once: the mark keeps
// its first time) and admits nobody; a run told otherwise clears the mark,
// so that seats coming back reopen the line.
//
// A run told that sales have opened opens the room first, in the same
// script: nobody can be admitted ahead of the pre-queue's draw.
//
// The token bucket counts in units of 1/60,000 admission, so that filling
// it at admit_per_minute units per millisecond stays in integers.
//
// The step fences the chain: the chain key holds the step it expects, a
// run of an older step or of another chain is stale, and a run of the
// step just done is a retry that only needs its successor scheduled. When
// the key has lapsed (the chain stalled or its task was lost), the run
// takes the room back.
var admitScript = goredis.NewScript(luaFields + luaOpen + `
local now = tonumber(ARGV[1])
local step = tonumber(ARGV[3])
local holder = redis.call('GET', KEYS[6])
if holder then
  local id, s = string.match(holder, '^(.+):(%d+)$')
  s = tonumber(s)
  if id ~= ARGV[2] or (s ~= step and s ~= step + 1) then return {2} end
  if s == step + 1 then return {1} end
end
if ARGV[13] == '1' then open(KEYS[1], KEYS[7]) end
local st = redis.call('HMGET', KEYS[1], 'next', 'serving', 'waiting', 'total', 'units', 'at', 'prebase', 'pre')
local prebase, pre = tonumber(st[7]) or 0, tonumber(st[8]) or 0
-- userAt returns the user holding number n and their ticket, or nil when
-- the number's holder left.
local function userAt(n)
  local user
  if n > prebase and n <= prebase + pre then
    user = redis.call('ZRANGE', KEYS[7], n - prebase - 1, n - prebase - 1)[1]
    if not user then return nil end
    local t = redis.call('HGET', KEYS[2], user)
    if t and string.sub(t, 1, 2) == '0:' then return user, t end
    return nil
  end
  user = redis.call('HGET', KEYS[3], n)
  if not user then return nil end
  redis.call('HDEL', KEYS[3], n)
  local t = redis.call('HGET', KEYS[2], user)
  if t then return user, t end
  return nil
end
local nxt = tonumber(st[1]) or 0
local serving = tonumber(st[2]) or 0
local waiting = tonumber(st[3]) or 0
local total = tonumber(st[4]) or 0
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - 60000)
local active = redis.call('ZCARD', KEYS[4])
local recent = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
  recent = recent + tonumber(string.match(m, ':(%d+)$'))
end
local admitted = 0
if ARGV[6] == '0' then
  local apm = tonumber(ARGV[7])
  local unit = 60000
  local units, at = tonumber(st[5]), tonumber(st[6])
  if step == 0 or units == nil then
    units, at = tonumber(ARGV[11]) * unit, now
  elseif now > at then
    units, at = math.min(tonumber(ARGV[10]) * unit, units + (now - at) * apm), now
  end
  local budget = math.min(math.floor(units / unit), apm - recent, waiting)
  local maxActive = tonumber(ARGV[8])
  if maxActive > 0 then budget = math.min(budget, maxActive - active) end
  local capacity = tonumber(ARGV[14])
  if capacity >= 0 then budget = math.min(budget, capacity) end
  if ARGV[15] == '1' then
    budget = 0
    redis.call('HSETNX', KEYS[1], 'soldout', now)
  else
    redis.call('HDEL', KEYS[1], 'soldout', 'told')
  end
  local untilMs = now + tonumber(ARGV[9])
  local count = ARGV[16] == '1'
  local walked, limit = 0, tonumber(ARGV[12])
  while admitted < budget and serving < nxt and walked < limit do
    serving = serving + 1
    walked = walked + 1
    local user, t = userAt(serving)
    if user then
      local joined = fields(t)[2]
      redis.call('HSET', KEYS[2], user, serving .. ':' .. joined .. ':' .. now .. ':' .. untilMs)
      redis.call('ZADD', KEYS[4], untilMs, user)
      -- A join made while this run was starting is stamped a little
      -- after the run's now: it waited no time, not less than none.
      if count then redis.call('ZADD', KEYS[9], now, serving .. ':' .. math.max(0, now - joined) .. ':' .. untilMs .. ':' .. user) end
      admitted = admitted + 1
    end
  end
  units = units - admitted * unit
  waiting, total = waiting - admitted, total + admitted
  active, recent = active + admitted, recent + admitted
  redis.call('HSET', KEYS[1], 'serving', serving, 'waiting', waiting, 'total', total, 'units', units, 'at', at)
  if admitted > 0 then
    redis.call('ZADD', KEYS[5], now, serving .. ':' .. admitted)
    if count then redis.call('HINCRBY', KEYS[8], 'a:' .. math.floor(now / 60000), admitted) end
  end
end
local released = 0
if waiting > 0 then
  redis.call('SET', KEYS[6], ARGV[2] .. ':' .. (step + 1), 'PX', ARGV[4])
else
  redis.call('DEL', KEYS[6])
  released = 1
end
for _, k in ipairs({KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7]}) do redis.call('PEXPIRE', k, ARGV[5]) end
if ARGV[16] == '1' then
  redis.call('PEXPIRE', KEYS[8], ARGV[5])
  redis.call('PEXPIRE', KEYS[9], ARGV[5])
end
local so = redis.call('HMGET', KEYS[1], 'soldout', 'told')
return {0, admitted, waiting, active, total, recent, released, tonumber(so[1]) or 0, tonumber(so[2]) or 0}
`)

// armScript: KEYS room, chain; ARGV chain id, lease_ms. Hands the room to
// the chain when someone waits and no chain holds it.
var armScript = goredis.NewScript(`
if (tonumber(redis.call('HGET', KEYS[1], 'waiting')) or 0) <= 0 then return 0 end
if redis.call('SET', KEYS[2], ARGV[1] .. ':0', 'NX', 'PX', ARGV[2]) then return 1 end
return 0
`)

// releaseChainScript: KEYS chain; ARGV chain id. Deletes the chain key if that
// chain holds it.
var releaseChainScript = goredis.NewScript(`
local h = redis.call('GET', KEYS[1])
if h and string.sub(h, 1, #ARGV[1] + 1) == ARGV[1] .. ':' then return redis.call('DEL', KEYS[1]) end
return 0
`)

// countsScript: KEYS room, active, window; ARGV now_ms. Returns {waiting,
// active, total, last_minute}.
var countsScript = goredis.NewScript(`
local now = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[1], 'waiting', 'total')
local active = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[1], '+inf')
local recent = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. (now - 60000), '+inf')) do
  recent = recent + tonumber(string.match(m, ':(%d+)$'))
end
return {tonumber(st[1]) or 0, active, tonumber(st[2]) or 0, recent}
`)

// Join implements waitroom.Queue.
func (w *WaitingRooms) Join(ctx context.Context, eventID uuid.UUID, a waitroom.Arrival, chain string) (waitroom.Place, bool, error) {
	k := keysOf(eventID)
	res, err := joinScript.Run(ctx, w.rdb, []string{k.room, k.tickets, k.numbers, k.active, k.chain, k.pre, k.funnel},
		a.UserID.String(), a.At.UnixMilli(), chain, chainLease.Milliseconds(), roomKeep.Milliseconds(),
		flag(a.Open), a.Key&(1<<waitroom.KeyBits-1), w.count).Slice()
	if err != nil {
		return waitroom.Place{}, false, fmt.Errorf("join waiting room event=%s: %w", eventID, err)
	}
	if len(res) != 5 {
		return waitroom.Place{}, false, fmt.Errorf("join waiting room event=%s: unexpected reply %v", eventID, res)
	}
	p, err := placeOf(res[0], res[1], res[3])
	if err == nil {
		p.SoldOutAt = msTime(res[4].(int64))
	}
	if err != nil {
		return waitroom.Place{}, false, fmt.Errorf("join waiting room event=%s: %w", eventID, err)
	}
	return p, res[2].(int64) == 1, nil
}

// Place implements waitroom.Queue.
func (w *WaitingRooms) Place(ctx context.Context, eventID, userID uuid.UUID, open bool) (waitroom.Place, bool, error) {
	k := keysOf(eventID)
	res, err := placeScript.Run(ctx, w.rdb, []string{k.room, k.tickets, k.pre}, userID.String(), flag(open)).Slice()
	if errors.Is(err, goredis.Nil) {
		return waitroom.Place{}, false, nil
	}
	if err == nil && len(res) != 4 {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err == nil {
		var p waitroom.Place
		if p, err = placeOf(res[0], res[1], res[2]); err == nil {
			soldOut, _ := res[3].(int64)
			p.SoldOutAt = msTime(soldOut)
			return p, true, nil
		}
	}
	return waitroom.Place{}, false, fmt.Errorf("read waiting room ticket event=%s: %w", eventID, err)
}

// Leave implements waitroom.Queue.
func (w *WaitingRooms) Leave(ctx context.Context, eventID, userID uuid.UUID, now time.Time) (waitroom.Place, bool, error) {
	k := keysOf(eventID)
	res, err := leaveScript.Run(ctx, w.rdb, []string{k.room, k.tickets, k.numbers, k.active, k.pre, k.revoked},
		userID.String(), now.UnixMilli(), roomKeep.Milliseconds()).Slice()
	if errors.Is(err, goredis.Nil) {
		return waitroom.Place{}, false, nil
	}
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err == nil {
		var p waitroom.Place
		if p, err = placeOf(res[0], res[1], nil); err == nil {
			return p, true, nil
		}
	}
	return waitroom.Place{}, false, fmt.Errorf("leave waiting room event=%s: %w", eventID, err)
}

// Revoked implements waitroom.Queue: one ZRANGEBYSCORE over the admissions
// given up that have not lapsed yet (a handful: only leavers').
func (w *WaitingRooms) Revoked(ctx context.Context, eventID uuid.UUID, now time.Time) (map[int64]time.Time, error) {
	zs, err := w.rdb.ZRangeByScoreWithScores(ctx, keysOf(eventID).revoked, &goredis.ZRangeBy{
		Min: "(" + strconv.FormatInt(now.UnixMilli(), 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("read revoked admissions event=%s: %w", eventID, err)
	}
	out := make(map[int64]time.Time, len(zs))
	for _, z := range zs {
		m, _ := z.Member.(string)
		n, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("read revoked admissions event=%s: malformed member %q", eventID, m)
		}
		out[n] = time.UnixMilli(int64(z.Score)).UTC()
	}
	return out, nil
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Admitted implements waitroom.Queue (and so booking.Admission): one
// ZSCORE.
func (w *WaitingRooms) Admitted(ctx context.Context, eventID, userID uuid.UUID, now time.Time) (bool, error) {
	until, err := w.rdb.ZScore(ctx, keysOf(eventID).active, userID.String()).Result()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check admission event=%s: %w", eventID, err)
	}
	return int64(until) > now.UnixMilli(), nil
}

// Admit implements waitroom.Queue.
func (w *WaitingRooms) Admit(ctx context.Context, run waitroom.Run, p waitroom.Policy, now time.Time) (waitroom.Batch, error) {
	k := keysOf(run.EventID)
	paused := flag(p.Paused)
	res, err := admitScript.Run(ctx, w.rdb, []string{k.room, k.tickets, k.numbers, k.active, k.window, k.chain, k.pre, k.funnel, k.waits},
		now.UnixMilli(), run.Chain, run.Step, chainLease.Milliseconds(), roomKeep.Milliseconds(),
		paused, p.AdmitPerMinute, p.MaxActive, p.AdmissionTTL.Milliseconds(), p.Burst, p.Start, maxWalk, flag(p.Open),
		capacityArg(p), flag(p.SoldOut), w.count,
	).Int64Slice()
	if err != nil {
		return waitroom.Batch{}, fmt.Errorf("admit event=%s chain=%s step=%d: %w", run.EventID, run.Chain, run.Step, err)
	}
	switch res[0] {
	case 1:
		return waitroom.Batch{Outcome: waitroom.AlreadyRan}, nil
	case 2:
		return waitroom.Batch{Outcome: waitroom.Stale}, nil
	}
	return waitroom.Batch{
		Outcome:   waitroom.Ran,
		Admitted:  res[1],
		Counts:    waitroom.Counts{Waiting: res[2], Active: res[3], AdmittedTotal: res[4], AdmittedLastMinute: res[5]},
		Released:  res[6] == 1,
		SoldOutAt: msTime(res[7]),
		Told:      res[8] == 1,
	}, nil
}

// Arm implements waitroom.Queue.
func (w *WaitingRooms) Arm(ctx context.Context, eventID uuid.UUID, chain string) (bool, error) {
	k := keysOf(eventID)
	n, err := armScript.Run(ctx, w.rdb, []string{k.room, k.chain}, chain, chainLease.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("arm waiting room event=%s: %w", eventID, err)
	}
	return n == 1, nil
}

// Release implements waitroom.Queue.
func (w *WaitingRooms) Release(ctx context.Context, eventID uuid.UUID, chain string) error {
	if err := releaseChainScript.Run(ctx, w.rdb, []string{keysOf(eventID).chain}, chain).Err(); err != nil {
		return fmt.Errorf("release waiting room event=%s chain=%s: %w", eventID, chain, err)
	}
	return nil
}

// Counts implements waitroom.Queue.
func (w *WaitingRooms) Counts(ctx context.Context, eventID uuid.UUID, now time.Time) (waitroom.Counts, error) {
	k := keysOf(eventID)
	res, err := countsScript.Run(ctx, w.rdb, []string{k.room, k.active, k.window}, now.UnixMilli()).Int64Slice()
	if err != nil {
		return waitroom.Counts{}, fmt.Errorf("waiting room counts event=%s: %w", eventID, err)
	}
	return waitroom.Counts{Waiting: res[0], Active: res[1], AdmittedTotal: res[2], AdmittedLastMinute: res[3]}, nil
}

// placeOf decodes a ticket, the serving counter and the pre-queue's size
// (nil when not given): a ticket is "number:joined_ms" (number 0 in the
// pre-queue) or, once admitted, "number:joined_ms:admitted_ms:until_ms".
func placeOf(ticket, servingReply, queuedReply any) (waitroom.Place, error) {
	raw, _ := ticket.(string)
	serving, _ := servingReply.(int64)
	queued, _ := queuedReply.(int64)
	parts := strings.Split(raw, ":")
	if len(parts) != 2 && len(parts) != 4 {
		return waitroom.Place{}, fmt.Errorf("malformed ticket %q", raw)
	}
	nums := make([]int64, len(parts))
	for i, s := range parts {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return waitroom.Place{}, fmt.Errorf("malformed ticket %q", raw)
		}
		nums[i] = n
	}
	p := waitroom.Place{Number: nums[0], Serving: serving, JoinedAt: time.UnixMilli(nums[1]).UTC()}
	if p.Number == 0 {
		p.PreQueued = queued
	}
	if len(nums) == 4 {
		at, until := time.UnixMilli(nums[2]).UTC(), time.UnixMilli(nums[3]).UTC()
		p.AdmittedAt, p.AdmittedUntil = &at, &until
	}
	return p, nil
}

// msTime is a time kept in milliseconds, nil for 0.
func msTime(ms int64) *time.Time {
	if ms == 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}
