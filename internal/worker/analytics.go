package worker

// TypeAnalyticsFold is the task that merges the shard rows of the
// analytics rollups (see postgres.AnalyticsStore.FoldShards). Its handler
// is a CleanupHandler: idempotent, and harmless when runs overlap.
const TypeAnalyticsFold = "analytics:fold-shards"
