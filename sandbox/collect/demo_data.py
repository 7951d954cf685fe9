"""Deterministic demo data of the Collect! simulator, and the forms its UI Forms endpoint serves.

SSNs are in the 900 range (never issued), phones in 555-01xx, e-mail at example.com. Debtor rowids are
fixed so tests and people can name them; `SPECIAL_DEBTORS` says what each one is for.
"""

from __future__ import annotations

from typing import Any, Final

OPERATOR_ID: Final = "OWN"
OPERATOR_PASSWORD: Final = "own"
SCHEDULE_NEXT_CONTACT: Final = "35d01ff2-775d-ccb4-8f53-25d36f517384"
FORM_OK: Final = 4631
FORM_CANCEL: Final = 4632

SPECIAL_DEBTORS: Final[dict[int, str]] = {
    101: "SMITH, JOHN: complete account with contacts, notes, transactions, a cosigner",
    102: "GARCIA, MARIA: no contacts, notes or transactions",
    103: "O'BRIEN, PATRICK: apostrophe in the name (filter quoting)",
    104: "JOHNSON, EMILY: 30 contacts and 12 transactions (paging)",
    105: "ACME PLUMBING LLC: business debtor (no comma in the name)",
    106: "SMITH, ANNA: second SMITH for searches",
    107: "SMITHSON, ROBERT: closed account (de_active 0, status CLS)",
    108: "NGUYEN, THANH: blank and sentinel values (compaction)",
    201: "PLAN, ALPHA: clean account for contact plan runs",
    202: "PLAN, BRAVO: clean account for contact plan runs",
    203: "PLAN, CHARLIE: clean account for contact plan runs",
    204: "PLAN, DELTA: clean account for contact plan runs",
}

CONTACT_TYPES: Final[dict[str, str]] = {"1": "Phone", "2": "Letter", "3": "Promise", "4": "Email", "5": "Review", "6": "Text"}

Rows = list[dict[str, Any]]

OPERATORS: Final[Rows] = [
    {"op_rowid": 1, "op_id": "OWN", "op_name": "Owner Of The Company", "op_level": 10, "op_function": 1,
     "op_password": "own"},
    {"op_rowid": 2, "op_id": "SAL", "op_name": "Sales Collector", "op_level": 5, "op_function": 2,
     "op_password": "sal"},
]  # fmt: skip

CLIENTS: Final[Rows] = [
    {"cl_rowid": 1, "cl_number": "C001", "cl_name": "FIRST NATIONAL BANK", "cl_status": "ACT", "cl_phone": "716-555-0100"},
    {"cl_rowid": 2, "cl_number": "C002", "cl_name": "CITY UTILITIES", "cl_status": "ACT", "cl_phone": "716-555-0190"},
]


def _debtor(rowid: int, number: str, name: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "de_rowid": rowid, "de_rowid_client": 1, "de_number": number, "de_name": name, "de_country": "US",
        "de_status": "NEW", "de_type": "RET", "de_active": "1", "de_collector": "OWN", "de_listed_date": "2024-01-15",
    }  # fmt: skip
    return base | fields


DEBTORS: Final[Rows] = [
    _debtor(101, "D1001", "SMITH, JOHN", de_contact="John Smith", de_address="123 MAIN ST", de_address1="APT 4",
            de_city="BUFFALO", de_state="NY", de_zip="14201", de_ss="900-12-3456", de_dob="1980-04-12",
            de_home_phone="716-555-0101", de_cell_phone="716-555-0102", de_email="john.smith@example.com",
            de_employer="ACME WIDGETS", de_owing="1250.00", de_paid="250.00", de_principal="1500.00",
            de_charge_date="2023-11-30", de_group_id="G1"),
    _debtor(102, "D1002", "GARCIA, MARIA", de_contact="Maria Garcia", de_address="45 ELM AVE", de_city="ROCHESTER",
            de_state="NY", de_zip="14604", de_ss="900-22-1111", de_dob="1975-09-30", de_cell_phone="585-555-0110",
            de_email="maria.garcia@example.com", de_owing="480.00", de_paid="0.00", de_principal="480.00",
            de_charge_date="2023-12-15", de_rowid_client=2),
    _debtor(103, "D1003", "O'BRIEN, PATRICK", de_contact="Patrick O'Brien", de_address="9 HARBOR RD",
            de_city="ERIE", de_state="PA", de_zip="16501", de_ss="900-33-2222", de_home_phone="814-555-0120",
            de_owing="2210.50", de_paid="100.00", de_principal="2310.50", de_charge_date="2023-10-01"),
    _debtor(104, "D1004", "JOHNSON, EMILY", de_contact="Emily Johnson", de_address="77 LAKE ST", de_city="BUFFALO",
            de_state="NY", de_zip="14202", de_ss="900-44-3333", de_home_phone="716-555-0130",
            de_email="emily.johnson@example.com", de_employer="CITY HOSPITAL", de_owing="5400.00",
            de_paid="600.00", de_principal="6000.00", de_charge_date="2023-06-30", de_status="PPA"),
    _debtor(105, "D1005", "ACME PLUMBING LLC", de_contact="Dana Reyes", de_address="500 INDUSTRIAL PKWY",
            de_city="CHEEKTOWAGA", de_state="NY", de_zip="14225", de_work_phone="716-555-0140",
            de_email="billing@acme-plumbing.example.com", de_owing="8900.00", de_paid="0.00", de_principal="8900.00",
            de_type="COM", de_rowid_client=2),
    _debtor(106, "D1006", "SMITH, ANNA", de_contact="Anna Smith", de_address="3 OAK CT", de_city="AMHERST",
            de_state="NY", de_zip="14226", de_ss="900-66-5555", de_cell_phone="716-555-0160", de_owing="300.00",
            de_paid="0.00", de_principal="300.00"),
    _debtor(107, "D1007", "SMITHSON, ROBERT", de_contact="Robert Smithson", de_address="18 PINE ST",
            de_city="BATAVIA", de_state="NY", de_zip="14020", de_ss="900-77-6666", de_owing="0.00", de_paid="720.00",
            de_principal="720.00", de_status="CLS", de_active="0"),
    _debtor(108, "D1008", "NGUYEN, THANH", de_contact=" ", de_address="221 RIVER RD", de_city="TONAWANDA",
            de_state="NY", de_zip="14150", de_ss="", de_dob="0000-00-00", de_home_phone="null", de_email=" ",
            de_owing="95.10", de_paid="", de_principal="95.10", de_charge_date="1899-12-31"),
    *[
        _debtor(rowid, f"D2{rowid - 200:03d}", f"PLAN, {word}", de_contact=f"{word.title()} Plan",
                de_address=f"{rowid} TEST ST", de_city="BUFFALO", de_state="NY", de_zip="14203",
                de_ss=f"900-90-{rowid:04d}", de_home_phone=f"716-555-{rowid:04d}", de_owing="1000.00",
                de_paid="0.00", de_principal="1000.00")
        for rowid, word in ((201, "ALPHA"), (202, "BRAVO"), (203, "CHARLIE"), (204, "DELTA"))
    ],
]  # fmt: skip

COSIGNERS: Final[Rows] = [
    {"cs_rowid": 1, "cs_rowid_debtor": 101, "cs_name": "SMITH, JANE", "cs_ss": "900-12-9999",
     "cs_home_phone": "716-555-0103", "cs_email": "jane.smith@example.com"},
]  # fmt: skip

ASSOCIATES: Final[Rows] = [{"as_rowid": 1, "as_rowid_client": 1, "as_name": "FNB COLLECTIONS DESK", "as_phone": "716-555-0105"}]


def _contact(rowid: int, debtor: int, kind: str, day: str, description: str, done: bool, **fields: Any) -> dict[str, Any]:
    return {
        "co_rowid": rowid, "co_rowid_debtor": debtor, "co_type": kind, "co_date": day, "co_description": description,
        "co_priority": "30", "co_who": "OWN", "co_originator": "OWN", "co_creation_date": day,
        "co_creation_time": "09:00:00", "co_who_from": "OWN", "co_done": "1" if done else "0",
        "co_done_date": day if done else "",
    } | fields  # fmt: skip


CONTACTS: Final[Rows] = [
    _contact(1, 101, "1", "2024-02-01", "Phoned debtor, left message", True, co_time="10:15:00"),
    _contact(2, 101, "2", "2024-02-10", "Initial demand letter", True),
    _contact(3, 101, "5", "2024-03-01", "Review file", False, co_priority="25"),
    *[
        _contact(10 + n, 104, ("1", "2", "5")[n % 3], f"2024-{1 + n // 28:02d}-{1 + n % 28:02d}",
                 f"Follow-up {n + 1} of 30", n < 25)
        for n in range(30)
    ],
]  # fmt: skip


def _payment(rowid: int, debtor: int, day: str, amount: str, kind: str = "PAY", description: str = "Payment") -> dict[str, Any]:
    payment = "1" if kind == "PAY" else "0"
    return {
        "tr_rowid": rowid, "tr_rowid_debtor": debtor, "tr_type": kind, "tr_description": description,
        "tr_payment": payment, "tr_payment_date": day, "tr_posted_date": day, "tr_to_us": amount,
        "tr_direct": "0.00", "tr_operator": "OWN",
    }  # fmt: skip


TRANSACTIONS: Final[Rows] = [
    _payment(1, 101, "2024-02-15", "100.00"),
    _payment(2, 101, "2024-03-15", "150.00"),
    _payment(3, 101, "2024-03-20", "25.00", "FEE", "Collection fee"),
    *[_payment(10 + n, 104, f"2024-{1 + n:02d}-05", "50.00") for n in range(12)],
]

NOTES: Final[Rows] = [
    {"no_rowid": 1, "no_rowid_debtor": 101, "no_date": "2024-02-01", "no_time": "10:16:00", "no_operator": "OWN",
     "no_text": "Debtor says he will call back on Friday."},
    {"no_rowid": 2, "no_rowid_debtor": 101, "no_date": "2024-02-15", "no_time": "14:02:00", "no_operator": "SAL",
     "no_text": "Payment of 100.00 received by phone."},
    {"no_rowid": 3, "no_rowid_debtor": 104, "no_date": "2024-01-03", "no_time": "08:30:00", "no_operator": "OWN",
     "no_text": "Payment plan agreed: 50.00 monthly."},
]  # fmt: skip

CONTACT_PLANS: Final[Rows] = [
    {"cp_rowid": 1, "cp_code": "NOP", "cp_name": "Review note",
     "cp_description": "Writes a review note. No prompts."},
    {"cp_rowid": 2, "cp_code": "YN", "cp_name": "Schedule a call",
     "cp_description": "Prompts once (Yes/No): Yes schedules a phone call for tomorrow, No does nothing."},
    {"cp_rowid": 3, "cp_code": "OKC", "cp_name": "Demand letter",
     "cp_description": "Writes a note, then prompts once (OK/CANCEL): OK schedules a demand letter, CANCEL cancels the plan."},
    {"cp_rowid": 4, "cp_code": "REV", "cp_name": "Review",
     "cp_description": "Prompts with the Schedule Next Contact form; the confirmed contact is scheduled."},
    {"cp_rowid": 5, "cp_code": "STR", "cp_name": "Operator note",
     "cp_description": "Prompts for a line of text, written as a note."},
    {"cp_rowid": 6, "cp_code": "DAT", "cp_name": "Schedule a review date",
     "cp_description": "Prompts for a date; schedules a review on that date."},
    {"cp_rowid": 7, "cp_code": "MANY", "cp_name": "Letter series",
     "cp_description": "Prompts 12 times (OK/CANCEL); each OK schedules one letter of the series."},
    {"cp_rowid": 8, "cp_code": "STATUS", "cp_name": "Hold account",
     "cp_description": "Sets the debtor's status to HLD and writes a note. No prompts."},
    {"cp_rowid": 9, "cp_code": "PTP", "cp_name": "Promise to pay",
     "cp_description": "Prompts three times: did the debtor promise (Yes/No), the amount, the date; writes a note and "
                       "schedules a follow-up call on that date."},
]  # fmt: skip

APPLICATION_FORMS: Final[Rows] = [
    {"af_rowid": 1, "af_form_name": "Schedule Next Contact", "af_form_fieldname": SCHEDULE_NEXT_CONTACT},
]

MASTERDB: Final[dict[str, Rows]] = {
    "operator": OPERATORS, "client": CLIENTS, "debtor": DEBTORS, "cosigner": COSIGNERS, "associate": ASSOCIATES,
    "contact": CONTACTS, "transaction": TRANSACTIONS, "notes": NOTES, "contact_plan": CONTACT_PLANS,
    "application_form": APPLICATION_FORMS,
}  # fmt: skip

DEMODB: Final[dict[str, Rows]] = {
    "operator": OPERATORS,
    "client": CLIENTS[:1],
    "debtor": [
        _debtor(1, "X0001", "DEMO, DEBTOR", de_contact="Debtor Demo", de_city="TORONTO", de_state="ON", de_country="CA",
                de_ss="900-00-0001", de_owing="100.00", de_paid="0.00", de_principal="100.00"),
        _debtor(2, "X0002", "SAMPLE, SALLY", de_contact="Sally Sample", de_city="OTTAWA", de_state="ON",
                de_country="CA", de_owing="200.00", de_paid="0.00", de_principal="200.00"),
    ],
    "contact_plan": CONTACT_PLANS,
    "application_form": APPLICATION_FORMS,
}  # fmt: skip


def _field(uid: str, name: str, label: str, kind: str, length: int, **extra: Any) -> dict[str, Any]:
    return {"id": uid, "name": name, "label": label, "type": kind, "length": length, "readonly": False,
            "required": False} | extra  # fmt: skip


# The UI Forms endpoint documents the form attributes name, alias, id, width, height and rights, then "detailed
# information about each available field" and button values; the shape of those two lists is the simulator's.
FORMS: Final[dict[str, dict[str, Any]]] = {
    SCHEDULE_NEXT_CONTACT: {
        "name": "Schedule Next Contact",
        "id": SCHEDULE_NEXT_CONTACT,
        "width": 86,
        "height": 17,
        "rights": 15,
        "fields": [
            _field("6b1c2e10-0001-4c5e-9a51-000000000001", "co_type", "Type", "choice", 4,
                   choices=[{"value": code, "label": label} for code, label in CONTACT_TYPES.items()], required=True),
            _field("6b1c2e10-0002-4c5e-9a51-000000000002", "co_description", "Description", "string", 126),
            _field("6b1c2e10-0003-4c5e-9a51-000000000003", "co_priority", "Priority", "integer", 3),
            _field("6b1c2e10-0004-4c5e-9a51-000000000004", "co_who", "Operator", "string", 8),
            _field("6b1c2e10-0005-4c5e-9a51-000000000005", "co_date", "Date", "date", 10, required=True),
            _field("6b1c2e10-0006-4c5e-9a51-000000000006", "co_time", "Time", "time", 8),
            _field("6b1c2e10-0007-4c5e-9a51-000000000007", "co_originator", "Originator", "string", 8, readonly=True),
            _field("6b1c2e10-0008-4c5e-9a51-000000000008", "co_creation_date", "Created", "date", 10, readonly=True),
            _field("6b1c2e10-0009-4c5e-9a51-000000000009", "co_creation_time", "Created at", "time", 8, readonly=True),
            _field("6b1c2e10-000a-4c5e-9a51-00000000000a", "co_who_from", "Assigned by", "string", 8, readonly=True),
            _field("6b1c2e10-000b-4c5e-9a51-00000000000b", "co_lock", "Lock", "integer", 6, readonly=True),
        ],
        "buttons": [
            {"id": "6b1c2e10-00b1-4c5e-9a51-0000000000b1", "label": "OK", "value": FORM_OK},
            {"id": "6b1c2e10-00b2-4c5e-9a51-0000000000b2", "label": "Cancel", "value": FORM_CANCEL},
        ],
    },
}  # fmt: skip
