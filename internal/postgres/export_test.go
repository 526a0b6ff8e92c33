package postgres

// SectionAvailabilitySQL is the statement of SectionAvailability, for
// tests that EXPLAIN it.
const SectionAvailabilitySQL = sectionAvailabilitySQL
