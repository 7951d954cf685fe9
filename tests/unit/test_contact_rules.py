"""Every boundary of the contact rules, with an injected clock (no I/O, no sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from collections_mcp.tools.common.contact_rules import (
    AttemptFact,
    Code,
    ContactFacts,
    ContactVerdict,
    Hold,
    Permissions,
    evaluate,
    next_convenient,
    resolve_zones,
)
from collections_mcp.tools.scollect.contact_facts import attempt_time, attempts_from, holds_from, phone_facts

CHICAGO = ZoneInfo("America/Chicago")
# Thursday 15 January 2026, 12:00 CST (18:00 UTC): no DST, well inside calling hours in Illinois.
NOON = datetime(2026, 1, 15, 18, 0, tzinfo=UTC)
ALLOWED_ALL = Permissions(cont_debtor=1, cantext=1, donottext=0, canemail=1, donotemail=0, cancallcell=1, callwork="Allowed")
SEVEN_DAYS = timedelta(days=7)


def facts(**changes: Any) -> ContactFacts:
    base: dict[str, Any] = {
        "file_number": "R1",
        "channel": "call",
        "now": NOON,
        "state": "IL",
        "zip": "60601",
        "permissions": ALLOWED_ALL,
    }
    return ContactFacts(**(base | changes))


def calls(*ages: timedelta, now: datetime = NOON, disposition: str = "NO ANSWER", direction: str = "outbound") -> list[AttemptFact]:
    return [AttemptFact(at=now - age, direction=direction, disposition=disposition) for age in ages]


def codes(verdict: ContactVerdict, *, blocking: bool | None = None) -> list[Code]:
    return [r.code for r in verdict.reasons if blocking is None or r.blocking == blocking]


def reason(verdict: ContactVerdict, code: Code) -> Any:
    return next(r for r in verdict.reasons if r.code == code)


def local(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0, zone: str = "America/Chicago") -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=ZoneInfo(zone)).astimezone(UTC)


# ------------------------------------------------------------------------------------------------ baseline


def test_an_ordinary_call_is_allowed_with_informational_reasons_only() -> None:
    verdict = evaluate(facts())
    assert verdict.allowed and verdict.next_allowed_at is None
    assert codes(verdict, blocking=True) == []
    assert set(codes(verdict)) == {Code.CALLS_IN_LAST_7_DAYS, Code.LOCAL_TIME, Code.NUMBER_NOT_CHECKED}
    assert "12:00:00 CST (America/Chicago)" in reason(verdict, Code.LOCAL_TIME).detail


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValidationError):
        facts(now=datetime(2026, 1, 15, 12, 0))


# -------------------------------------------------------------------------------- Reg F 7 calls in 7 days


def test_seventh_call_in_seven_days_is_allowed_eighth_is_blocked() -> None:
    six = calls(*(timedelta(days=d, hours=1) for d in range(6)))
    assert evaluate(facts(attempts=six)).allowed
    assert "this would be call 7 of at most 7" in reason(evaluate(facts(attempts=six)), Code.CALLS_IN_LAST_7_DAYS).detail

    seven = calls(*(timedelta(days=d, hours=1) for d in range(7)))
    verdict = evaluate(facts(attempts=seven))
    assert not verdict.allowed and codes(verdict, blocking=True) == [Code.REG_F_7_IN_7]
    block = reason(verdict, Code.REG_F_7_IN_7)
    assert block.rule == "12 CFR 1006.14(b)(2)(i)"
    # The oldest of the seven (6 days 1 hour ago) leaves the window 7 days after it was placed: in 23 hours.
    assert block.until == NOON - timedelta(days=6, hours=1) + SEVEN_DAYS == NOON + timedelta(hours=23)
    # 23 hours after noon is 11:00 the next day in Chicago: within calling hours, so that is the answer.
    assert verdict.next_allowed_at == NOON + timedelta(hours=23)


def test_window_edge_a_call_exactly_seven_days_ago_no_longer_counts() -> None:
    recent = [timedelta(days=d, hours=1) for d in range(6)]
    out = calls(*recent, SEVEN_DAYS)
    assert evaluate(facts(attempts=out)).allowed

    inside = calls(*recent, SEVEN_DAYS - timedelta(seconds=1))
    verdict = evaluate(facts(attempts=inside))
    assert not verdict.allowed
    assert reason(verdict, Code.REG_F_7_IN_7).until == NOON + timedelta(seconds=1)
    assert verdict.next_allowed_at == NOON + timedelta(seconds=1)


def test_more_than_seven_calls_wait_for_the_seventh_most_recent() -> None:
    nine = calls(*(timedelta(days=d, hours=2) for d in range(6)), timedelta(hours=30), timedelta(hours=40), timedelta(hours=50))
    verdict = evaluate(facts(attempts=nine))
    in_window = sorted(NOON - age for age in (*(timedelta(days=d, hours=2) for d in range(6)),
                                              timedelta(hours=30), timedelta(hours=40), timedelta(hours=50)))  # fmt: skip
    assert reason(verdict, Code.REG_F_7_IN_7).until == in_window[-7] + SEVEN_DAYS
    assert "9 calls placed in the last 7 days" in reason(verdict, Code.REG_F_7_IN_7).detail


def test_inbound_calls_do_not_count_unknown_direction_does() -> None:
    six = calls(*(timedelta(days=d, hours=1) for d in range(6)))
    assert evaluate(facts(attempts=six + calls(timedelta(hours=3), direction="inbound"))).allowed
    assert not evaluate(facts(attempts=six + calls(timedelta(hours=3), direction="unknown"))).allowed


def test_calls_stamped_after_now_still_count() -> None:
    # Vendor times are rounded up to the end of their minute, so a call just logged can look slightly future.
    six = calls(*(timedelta(days=d, hours=1) for d in range(6)))
    assert not evaluate(facts(attempts=six + calls(-timedelta(seconds=30)))).allowed


def test_frequency_rules_apply_to_calls_only() -> None:
    seven = calls(*(timedelta(days=d, hours=1) for d in range(7)))
    spoke = calls(timedelta(hours=1), disposition="SPOKE TO DEBTOR")
    for channel in ("text", "email"):
        verdict = evaluate(facts(channel=channel, attempts=seven + spoke))
        assert verdict.allowed, verdict.reasons
        assert Code.CALLS_IN_LAST_7_DAYS not in codes(verdict)


# -------------------------------------------------------------------------- Reg F 7 days after a conversation


def test_conversation_exactly_seven_days_ago_allows_a_call_one_second_less_blocks() -> None:
    assert evaluate(facts(attempts=calls(SEVEN_DAYS, disposition="SPOKE TO DEBTOR"))).allowed

    verdict = evaluate(facts(attempts=calls(SEVEN_DAYS - timedelta(seconds=1), disposition="SPOKE TO DEBTOR")))
    assert codes(verdict, blocking=True) == [Code.REG_F_7_DAYS_AFTER_CONVERSATION]
    block = reason(verdict, Code.REG_F_7_DAYS_AFTER_CONVERSATION)
    assert block.rule == "12 CFR 1006.14(b)(2)(ii)" and block.until == NOON + timedelta(seconds=1)
    assert verdict.next_allowed_at == NOON + timedelta(seconds=1)

    after = facts(attempts=calls(SEVEN_DAYS, disposition="SPOKE TO DEBTOR", now=NOON - timedelta(seconds=1)),
                  now=NOON - timedelta(seconds=1) + SEVEN_DAYS)  # fmt: skip
    assert evaluate(after).allowed  # the instant conversation + 7 days is the first allowed one


@pytest.mark.parametrize(
    ("disposition", "direction", "is_conversation"),
    [
        ("SPOKE TO DEBTOR", "outbound", True),
        ("spoke  to debtor ", "outbound", True),
        ("RIGHT PARTY CONTACT", "outbound", True),
        ("PROMISE TO PAY", "outbound", True),
        ("REFUSED TO PAY", "outbound", True),
        ("SPOKE TO DEBTOR", "inbound", True),  # a conversation the debtor started still counts
        ("HUNG UP", "outbound", False),
        ("LEFT MESSAGE MACHINE", "outbound", False),
        ("WRONG NUMBER", "outbound", False),
        (None, "outbound", False),
    ],
)
def test_which_dispositions_are_conversations(disposition: str | None, direction: str, is_conversation: bool) -> None:
    attempt = AttemptFact(at=NOON - timedelta(days=2), direction=direction, disposition=disposition)
    verdict = evaluate(facts(attempts=[attempt]))
    assert (Code.REG_F_7_DAYS_AFTER_CONVERSATION in codes(verdict, blocking=True)) is is_conversation


def test_the_latest_conversation_decides() -> None:
    talks = calls(timedelta(days=10), timedelta(days=3), disposition="SPOKE TO DEBTOR")
    block = reason(evaluate(facts(attempts=talks)), Code.REG_F_7_DAYS_AFTER_CONVERSATION)
    assert block.until == NOON - timedelta(days=3) + SEVEN_DAYS


# -------------------------------------------------------------------------------------------- calling hours


@pytest.mark.parametrize(
    ("moment", "allowed"),
    [
        (local(2026, 1, 15, 7, 59), False),
        (local(2026, 1, 15, 7, 59, 59), False),
        (local(2026, 1, 15, 8, 0), True),
        (local(2026, 1, 15, 21, 0), True),
        (local(2026, 1, 15, 21, 0, 0, 1), False),
        (local(2026, 1, 15, 21, 0, 1), False),
        (local(2026, 1, 15, 21, 1), False),
        (local(2026, 1, 15, 3, 0), False),
    ],
)
@pytest.mark.parametrize("channel", ["call", "text", "email"])
def test_calling_hours_boundaries_in_local_time(moment: datetime, allowed: bool, channel: str) -> None:
    verdict = evaluate(facts(now=moment, channel=channel))
    assert verdict.allowed is allowed, verdict.reasons
    assert (Code.INCONVENIENT_TIME in codes(verdict, blocking=True)) is (not allowed)


def test_after_nine_pm_the_next_allowed_time_is_eight_am_local_next_day() -> None:
    verdict = evaluate(facts(now=local(2026, 1, 15, 21, 1)))
    block = reason(verdict, Code.INCONVENIENT_TIME)
    assert block.rule == "12 CFR 1006.6(b)(1)(i)"
    assert "21:01:00 CST" in block.detail
    assert block.until == verdict.next_allowed_at == local(2026, 1, 16, 8, 0)
    early = evaluate(facts(now=local(2026, 1, 15, 6, 30)))
    assert early.next_allowed_at == local(2026, 1, 15, 8, 0)


def test_dst_start_day_uses_the_new_offset() -> None:
    # 8 March 2026: Chicago springs forward at 2:00; 8:00 CDT is 13:00 UTC (a fixed -6 offset would say 07:00).
    assert evaluate(facts(now=datetime(2026, 3, 8, 13, 0, tzinfo=UTC))).allowed
    before = evaluate(facts(now=datetime(2026, 3, 8, 12, 59, 59, tzinfo=UTC)))
    assert not before.allowed and "07:59:59 CDT" in reason(before, Code.INCONVENIENT_TIME).detail
    # The day before, 13:00 UTC is still 07:00 CST.
    assert not evaluate(facts(now=datetime(2026, 3, 7, 13, 0, tzinfo=UTC))).allowed
    # From midnight on the transition day the next allowed instant is 8:00 CDT.
    midnight = evaluate(facts(now=local(2026, 3, 8, 0, 0)))
    assert midnight.next_allowed_at == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)


def test_dst_end_day_uses_the_new_offset() -> None:
    # 1 November 2026: back to CST (UTC-6); 21:00 CST is 03:00 UTC on 2 November.
    assert evaluate(facts(now=datetime(2026, 11, 2, 3, 0, tzinfo=UTC))).allowed
    assert not evaluate(facts(now=datetime(2026, 11, 2, 3, 0, 1, tzinfo=UTC))).allowed
    assert evaluate(facts(now=datetime(2026, 11, 1, 14, 0, tzinfo=UTC))).allowed  # 08:00 CST


# Thursday 15 January 2026 14:30 UTC: 08:30 in Dallas (CST), 07:30 in El Paso (MST).
MORNING = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
# Friday 16 January 2026 03:30 UTC: 21:30 in Dallas, 20:30 in El Paso.
EVENING = datetime(2026, 1, 16, 3, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zip_code", "morning", "evening"),
    [
        ("75201", True, False),  # Dallas: Central
        ("79901", False, True),  # El Paso: Mountain
        ("88510", False, True),  # El Paso PO boxes: Mountain
        ("79843", False, False),  # Marfa shares 798 with El Paso county: both zones must be convenient
        (None, False, False),  # no ZIP: both zones
        ("7990", False, False),  # unreadable ZIP: both zones
    ],
)
def test_multi_zone_state_texas(zip_code: str | None, morning: bool, evening: bool) -> None:
    assert evaluate(facts(state="TX", zip=zip_code, now=MORNING)).allowed is morning
    assert evaluate(facts(state="TX", zip=zip_code, now=EVENING)).allowed is evening


def test_all_zones_state_names_the_zone_that_is_inconvenient_and_waits_for_both() -> None:
    verdict = evaluate(facts(state="TX", zip="79843", now=MORNING))
    block = reason(verdict, Code.INCONVENIENT_TIME)
    assert "America/Denver" in block.detail and "America/Chicago" not in block.detail.split(":")[0]
    assert "TX ZIP 798xx spans time zones: all checked" in block.detail
    assert verdict.next_allowed_at == datetime(2026, 1, 15, 15, 0, tzinfo=UTC)  # 08:00 MST
    late = evaluate(facts(state="TX", zip="79843", now=EVENING))
    assert late.next_allowed_at == datetime(2026, 1, 16, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "zip_code", "zones"),
    [
        ("NM", "87035", ("America/Denver",)),
        ("New Mexico", None, ("America/Denver",)),
        ("tx", "79901-1234", ("America/Denver",)),
        ("FL", "32501", ("America/Chicago",)),  # Pensacola
        ("FL", "33101", ("America/New_York",)),  # Miami
        ("FL", "32401", ("America/New_York", "America/Chicago")),  # Panama City prefix is split: both
        ("IN", "46201", ("America/Indiana/Indianapolis",)),
        ("IN", "46401", ("America/Chicago",)),  # Gary
        ("KY", "42001", ("America/Chicago",)),  # Paducah
        ("MI", "49801", ("America/Detroit", "America/Menominee")),  # Upper Peninsula prefix: both
        ("AK", "99546", ("America/Adak",)),
        ("AK", "99501", ("America/Anchorage",)),
        ("AZ", "85001", ("America/Phoenix",)),
        ("AZ", "86515", ("America/Phoenix", "America/Denver")),  # Window Rock, Navajo Nation keeps DST
        ("D.C.", "20001", ("America/New_York",)),
        ("MT", "79843", ("America/Denver",)),  # a ZIP from another state is ignored: the state decides
    ],
)
def test_zone_resolution(state: str, zip_code: str | None, zones: tuple[str, ...]) -> None:
    resolved = resolve_zones(state, zip_code)
    assert resolved is not None and resolved.zones == zones


@pytest.mark.parametrize("state", [None, "", "ST", "AE", "XX", "Atlantis"])
def test_unknown_state_fails_closed(state: str | None) -> None:
    assert resolve_zones(state, "12345") is None
    verdict = evaluate(facts(state=state))
    assert not verdict.allowed and codes(verdict, blocking=True) == [Code.LOCAL_TIME_UNKNOWN]
    assert verdict.next_allowed_at is None
    assert "local time is unknown" in reason(verdict, Code.LOCAL_TIME_UNKNOWN).detail


def test_next_convenient_across_zones_three_hours_apart() -> None:
    # Eastern and Pacific both convenient only 11:00-21:00 Eastern; from 07:00 Eastern the answer is 08:00 Pacific.
    start = local(2026, 1, 15, 7, 0, zone="America/New_York")
    assert next_convenient(start, ("America/New_York", "America/Los_Angeles")) == local(2026, 1, 15, 8, 0, zone="America/Los_Angeles")


def test_frequency_block_ending_at_night_waits_for_the_morning() -> None:
    # The oldest of 7 calls was at 22:30 local 6 days ago: it leaves the window tonight at 22:30, after 9 p.m.
    now = local(2026, 1, 15, 12, 0)
    oldest = local(2026, 1, 8, 22, 30)
    seven = [AttemptFact(at=oldest, direction="outbound"), *calls(*(timedelta(days=d, hours=1) for d in range(6)), now=now)]
    verdict = evaluate(facts(now=now, attempts=seven))
    assert reason(verdict, Code.REG_F_7_IN_7).until == local(2026, 1, 15, 22, 30)
    assert verdict.next_allowed_at == local(2026, 1, 16, 8, 0)


# --------------------------------------------------------------------------------------------------- holds


@pytest.mark.parametrize(
    ("field", "code", "rule"),
    [
        ("bankruptcy", Code.BANKRUPTCY, "11 U.S.C. 362(a)"),
        ("deceased", Code.DECEASED, "12 CFR 1006.2(e)"),
        ("cease_and_desist", Code.CEASE_AND_DESIST, "12 CFR 1006.6(c)"),
        ("attorney_represented", Code.ATTORNEY_REPRESENTED, "12 CFR 1006.6(b)(2)"),
    ],
)
@pytest.mark.parametrize("channel", ["call", "text", "email"])
def test_status_holds_block_every_channel_without_a_next_time(field: str, code: Code, rule: str, channel: str) -> None:
    verdict = evaluate(facts(channel=channel, **{field: Hold(active=True, source="statusname 'X'")}))
    assert not verdict.allowed and codes(verdict, blocking=True) == [code]
    assert rule in reason(verdict, code).rule and "statusname 'X'" in reason(verdict, code).detail
    assert verdict.next_allowed_at is None
    # A hold plus a time block: still no next time (time alone does not lift the hold).
    assert evaluate(facts(channel=channel, now=local(2026, 1, 15, 22, 0), **{field: Hold(active=True)})).next_allowed_at is None


def test_dispute_is_informational() -> None:
    verdict = evaluate(facts(disputed=Hold(active=True, source="statusname 'DISPUTE'")))
    assert verdict.allowed and Code.DISPUTED in codes(verdict, blocking=False)


def test_every_reason_is_reported_blocking_first() -> None:
    verdict = evaluate(facts(
        now=local(2026, 1, 15, 22, 0), bankruptcy=Hold(active=True), attorney_represented=Hold(active=True),
        attempts=calls(timedelta(days=1), disposition="SPOKE TO DEBTOR", now=local(2026, 1, 15, 22, 0)),
    ))  # fmt: skip
    blocking = codes(verdict, blocking=True)
    assert set(blocking) == {Code.BANKRUPTCY, Code.ATTORNEY_REPRESENTED, Code.REG_F_7_DAYS_AFTER_CONVERSATION,
                             Code.INCONVENIENT_TIME}  # fmt: skip
    assert codes(verdict)[: len(blocking)] == blocking
    assert all(not r.blocking for r in verdict.reasons[len(blocking) :])


# --------------------------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("channel", ["call", "text", "email"])
def test_no_direct_contact_blocks_every_channel(channel: str) -> None:
    verdict = evaluate(facts(channel=channel, permissions=ALLOWED_ALL.model_copy(update={"cont_debtor": False})))
    assert codes(verdict, blocking=True) == [Code.NO_DIRECT_CONTACT]


@pytest.mark.parametrize(
    ("update", "channel", "code"),
    [
        ({"donottext": True}, "text", Code.DO_NOT_TEXT),
        ({"cantext": False}, "text", Code.DO_NOT_TEXT),
        ({"donotemail": True}, "email", Code.DO_NOT_EMAIL),
        ({"canemail": False}, "email", Code.DO_NOT_EMAIL),
    ],
)
def test_text_and_email_permissions(update: dict[str, Any], channel: str, code: Code) -> None:
    permissions = ALLOWED_ALL.model_copy(update=update)
    assert codes(evaluate(facts(channel=channel, permissions=permissions)), blocking=True) == [code]
    other = "email" if channel == "text" else "text"
    assert evaluate(facts(channel=other, permissions=permissions)).allowed
    assert evaluate(facts(channel="call", permissions=permissions)).allowed


def test_permission_values_are_read_like_the_vendor_writes_them() -> None:
    parsed = Permissions.model_validate({"cont_debtor": "1", "donottext": 1, "cantext": "0", "callwork": "Not Allowed",
                                         "cancallcell": None, "sifamount": "500.00"})  # fmt: skip
    assert (parsed.cont_debtor, parsed.donottext, parsed.cantext, parsed.callwork, parsed.cancallcell) == (True, True, False, False, None)
    assert Permissions.model_validate({"callwork": "Allowed", "canemail": "maybe"}).callwork is True
    assert Permissions.model_validate({"canemail": "maybe"}).canemail is None


@pytest.mark.parametrize(
    ("kind", "blocked"),
    [("cell", True), ("unknown", True), ("home", False), ("work", False)],
)
def test_cancallcell_blocks_cell_and_unknown_type_numbers(kind: str, blocked: bool) -> None:
    permissions = ALLOWED_ALL.model_copy(update={"cancallcell": False})
    verdict = evaluate(facts(permissions=permissions, phone_number="716-555-0101", phone_kind=kind, phone_on_file=True))
    assert (codes(verdict, blocking=True) == [Code.CANNOT_CALL_CELL]) is blocked
    assert verdict.allowed is not blocked
    assert evaluate(facts(channel="text", permissions=permissions, phone_number="716-555-0101", phone_kind=kind)).allowed


def test_cancallcell_without_a_number_is_a_warning() -> None:
    verdict = evaluate(facts(permissions=ALLOWED_ALL.model_copy(update={"cancallcell": False})))
    assert verdict.allowed
    assert any(r.code == Code.NUMBER_NOT_CHECKED and "Cell numbers" in r.detail for r in verdict.reasons)


def test_work_calls_not_allowed() -> None:
    permissions = ALLOWED_ALL.model_copy(update={"callwork": False})
    work = evaluate(facts(permissions=permissions, phone_number="716-555-0101", phone_kind="work"))
    assert codes(work, blocking=True) == [Code.NO_WORK_CALLS]
    assert evaluate(facts(permissions=permissions, phone_number="716-555-0101", phone_kind="cell")).allowed


@pytest.mark.parametrize(
    ("status", "code"),
    [("Wrong Number", Code.BAD_NUMBER), ("Disconnected", Code.BAD_NUMBER), ("Do Not Call", Code.DO_NOT_CALL_NUMBER)],
)
@pytest.mark.parametrize("channel", ["call", "text"])
def test_bad_numbers(status: str, code: Code, channel: str) -> None:
    verdict = evaluate(facts(channel=channel, phone_number="716-555-0101", phone_kind="home", phone_status=status))
    assert codes(verdict, blocking=True) == [code]


def test_a_number_not_on_file_is_a_warning() -> None:
    verdict = evaluate(facts(phone_number="716-555-0101", phone_kind="unknown", phone_on_file=False))
    assert verdict.allowed and Code.PHONE_NOT_ON_FILE in codes(verdict, blocking=False)


# ------------------------------------------------------------------------------------- unknown permissions

UNREADABLE = Permissions(source="not readable from Scollect")


@pytest.mark.parametrize(("channel", "blocking"), [("call", False), ("text", True), ("email", True)])
def test_unknown_permissions_block_texts_and_emails_but_only_warn_for_calls(channel: str, blocking: bool) -> None:
    verdict = evaluate(facts(channel=channel, permissions=UNREADABLE))
    unknown = reason(verdict, Code.PERMISSION_UNKNOWN)
    assert unknown.blocking is blocking and verdict.allowed is not blocking
    assert "not readable from Scollect" in unknown.detail and "cont_debtor" in unknown.detail
    expected = {"call": "cancallcell", "text": "donottext", "email": "donotemail"}[channel]
    assert expected in unknown.detail
    assert verdict.next_allowed_at is None


def test_partly_known_permissions_name_only_the_unknown_ones() -> None:
    verdict = evaluate(facts(channel="text", permissions=Permissions(cont_debtor=True, cantext=True)))
    assert "Not known: donottext" in reason(verdict, Code.PERMISSION_UNKNOWN).detail


def test_a_known_block_makes_unknown_permissions_irrelevant() -> None:
    verdict = evaluate(facts(channel="text", permissions=Permissions(donottext=True)))
    assert codes(verdict, blocking=True) == [Code.DO_NOT_TEXT]
    assert Code.PERMISSION_UNKNOWN not in codes(verdict)


def test_undated_attempts_are_reported() -> None:
    verdict = evaluate(facts(undated_attempts=2))
    assert verdict.allowed and "2 logged attempt(s)" in reason(verdict, Code.ATTEMPT_LOG_INCOMPLETE).detail


# ------------------------------------------------------------------------------------ Scollect -> facts mapping


def test_attempt_times_round_up_so_windows_never_shrink() -> None:
    utc = ZoneInfo("UTC")
    row = {"date": "Tue, 24 Nov 2026 00:00:00 GMT", "time": "10:09"}
    assert attempt_time(row, utc) == datetime(2026, 11, 24, 10, 10, tzinfo=UTC)  # end of the minute
    assert attempt_time({"date": "11/24/2026", "time": "9:45 PM"}, utc) == datetime(2026, 11, 24, 21, 46, tzinfo=UTC)
    assert attempt_time({"date": "2026-11-24", "time": ""}, utc) == datetime(2026, 11, 25, tzinfo=UTC)  # end of day
    eastern = attempt_time(row, ZoneInfo("America/New_York"))
    assert eastern == datetime(2026, 11, 24, 15, 10, tzinfo=UTC)
    facts_, undated = attempts_from([row | {"direction": "Inbound", "dispo": "SPOKE TO DEBTOR"}, {"date": " "}], utc)
    assert undated == 1 and facts_[0].direction == "inbound" and facts_[0].disposition == "SPOKE TO DEBTOR"


@pytest.mark.parametrize(
    ("account", "active"),
    [
        ({"statusname": "Bankruptcy"}, {"bankruptcy"}),
        ({"statusname": "ACTIVE", "bankruptcytype": "Chapter 7"}, {"bankruptcy"}),
        ({"statusname": "DECEASED"}, {"deceased"}),
        ({"statusname": "ACTIVE", "deceased": "YES", "deceaseddate": "8/14/2025"}, {"deceased"}),
        ({"statusname": "Cease and Desist"}, {"cease_and_desist"}),
        ({"statusname": "Attorney Represented"}, {"attorney_represented"}),
        ({"statusname": "ACTIVE", "attorneyname": " ROBERT HALL ESQ"}, {"attorney_represented"}),
        ({"statusname": "DISPUTE"}, {"disputed"}),
        ({"statusname": "ACTIVE", "deceased": "NO", "attorneyname": " ", "bankruptcytype": ""}, set()),
    ],
)
def test_holds_from_scollect_fields(account: dict[str, Any], active: set[str]) -> None:
    holds = holds_from(account)
    assert {name for name, hold in holds.items() if hold.active} == active
    for name in active:
        assert holds[name].source


def test_phone_facts_from_rows_and_account_fields() -> None:
    rows = [{"phonenumber": "716-555-0101", "phonetype": "CELL", "phonestatus": "Good Number"}]
    account = {"workphone": "7165550199"}
    assert phone_facts("(716) 555-0101", rows, account) == {"phone_kind": "cell", "phone_status": "Good Number", "phone_on_file": True}
    assert phone_facts("716-555-0199", rows, account)["phone_kind"] == "work"
    assert phone_facts("716-555-0000", rows, account) == {"phone_kind": "unknown", "phone_status": None, "phone_on_file": False}
