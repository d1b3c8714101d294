"""One router per resource: letters, jobs, compare, cases, decisions, reception, stats, health, admin."""
