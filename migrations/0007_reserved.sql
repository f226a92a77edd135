-- Number reserved for the lottery draw's own tables (its placements), which land separately;
-- until then this migration changes nothing, so that 0008 follows without a gap.
SELECT 1;
