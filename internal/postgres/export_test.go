package postgres

// SectionAvailabilitySQL is the statement of SectionAvailability, for
// tests that EXPLAIN it.
const SectionAvailabilitySQL = sectionAvailabilitySQL

// Translate exposes translate to the tests of the error edge.
var Translate = translate
