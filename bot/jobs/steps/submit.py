"""Submit: send a pending job (or resend one found `submitted`) with its Idempotency-Key."""

from __future__ import annotations

from bot.jobs.models import Job, JobState
from bot.jobs.steps.base import Steps
from bot.jobs.store import NoUpstreamSlot
from bot.wan.errors import GatewayError, RateLimited, SubmitOutcomeUnknown
from bot.wan.request import VideoRequest
from bot.wan.retry import backoff_delay


class SubmitStep(Steps):
    async def _submit(self, job: Job) -> None:
        body = await self.store.full_request(job)  # an attached image is kept beside the job row
        if body is None:  # cannot happen while the job is active (pruned only after it ends)
            await self._end(job, JobState.FAILED, error_code="attachment_missing",
                            error_message="the attached image is no longer stored; attach it again")
            return
        request = VideoRequest.model_validate(body)
        resumed = job.state == JobState.SUBMITTED
        # Sends of this job whose body left and whose outcome is unknown (a crash, a timeout): each is
        # recorded just before its body goes (`sending`), so a request that never left the process
        # (killed while connecting, or before it) is no attempt. gateway-api.md allows one resend.
        in_doubt = job.submit_attempts
        if resumed and in_doubt >= 2:
            await self._end(job, JobState.UNKNOWN, error_code="submit_unknown",
                            error_message="the submit's outcome is unknown after a retry with the same "
                                          "Idempotency-Key; check the gateway before re-running")
            return
        if not resumed:
            # WAN_MAX_IN_FLIGHT is checked again in the database, over every replica (a resumed
            # submit is already counted): the slot this process gave may have gone to another replica's job.
            cap = (self.options.max_in_flight, self.options.origin) if self.leases.enabled else None
            try:
                job = await self.store.transition(
                    job.id, JobState.SUBMITTED, expect=[JobState.PENDING], in_flight_cap=cap,
                    submitted_at=job.submitted_at or self.clock(), detail={"sending": True})
            except NoUpstreamSlot:
                self.slots.requeue(job.id)
                await self._refresh_capacity()
                return
        recorded = in_doubt

        async def sending(count: int) -> None:
            """Before the body of a send leaves: it is an attempt now (synced, fenced by the lease)."""
            nonlocal job, recorded
            attempts = in_doubt + count
            if attempts == recorded:  # a retry after a definite answer (a 5xx): the same attempt
                return
            job = await self.store.transition(job.id, JobState.SUBMITTED, expect=[JobState.SUBMITTED],
                                              submit_attempts=attempts, detail={"attempt": attempts, "resumed": resumed})
            recorded = attempts

        try:
            # Found `submitted` with a send recorded: that send may have created the task.
            task = await self.client.submit(request, idempotency_key=job.id, in_doubt=in_doubt >= 1, sending=sending)
        except RateLimited as exc:
            # Not accepted upstream: back to pending, keep our place, come back after the wait.
            job = await self.store.transition(job.id, JobState.PENDING, expect=[JobState.SUBMITTED],
                                              submit_attempts=0, submitted_at=None,
                                              detail={"rate_limited": str(exc)})
            errors = self._errors[job.id] = self._errors.get(job.id, 0) + 1
            self._schedule(job.id, self.clock() + backoff_delay(errors - 1, retry_after=exc.retry_after))
            return
        except SubmitOutcomeUnknown as exc:
            await self._end(job, JobState.UNKNOWN, error_code="submit_unknown", error_message=exc.message,
                            request_id=exc.request_id)
            return
        except GatewayError as exc:
            await self._fail_from_error(job, exc, during="submit")
            return
        self._errors.pop(job.id, None)
        await self._apply_task(job, task, first=True)
