package event

// maxCachedEvents bounds the cache of seat counts (see Service): a crowd
// polling one event page during an on-sale costs one count per second per
// process instead of one per request.
const maxCachedEvents = 10_000
