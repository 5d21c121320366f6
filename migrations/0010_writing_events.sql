-- depends: 0009_run_usage
-- "writing": what the model is writing while its reply streams (at most one event a second).

ALTER TABLE "RunEvent" DROP CONSTRAINT "RunEvent_kind_check";
ALTER TABLE "RunEvent" ADD CONSTRAINT "RunEvent_kind_check"
    CHECK ("kind" IN ('status', 'model', 'command', 'files', 'check', 'error', 'writing'));
