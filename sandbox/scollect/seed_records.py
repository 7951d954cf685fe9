"""Records the vendor's document shows, reused verbatim (or nearly) as demo data."""

from __future__ import annotations

from typing import Any, Final

from collections_mcp.sandbox.scollect.fields import AccountValue

# R1001 in the seed's getaccount example. Its SSN (000-00-0000) and ZIP ("ZIP") are placeholders there; the
# generator replaces them so that SSN lookups stay unambiguous. The envelope's "state" is not the record's.
MALIA: Final[dict[str, AccountValue]] = {
    "accountnumber": "12345679",
    "address": "15 STREET NAME",
    "asset1value": "5500",
    "assettype1": "Vehicles",
    "assignedto": "mall",
    "birthdate": "1/1/1900",
    "city": "CITY",
    "clientname": "C2C",
    "collectorname": "Mark",
    "contingencyamount": "7050",
    "courtfiled": "10/6/2023",
    "currentbalance": "809.00",
    "custom1": "UNITED SOUTHERN BANK",
    "custom2": "063105285",
    "custom3": "124",
    "custom4": "45",
    "dateaccountopened": "3/6/2013",
    "datechargedoff": "5/20/2013",
    "datefiled": "10/6/2023",
    "datelastassigned": "Thu, 01 Dec 2022 13:14:01 GMT",
    "datelastdialed": "Thu, 01 Dec 2022 00:00:00 GMT",
    "datelaststatuschg": "Thu, 01 Dec 2022 13:14:01 GMT",
    "dateplaced": "12/1/2022",
    "docketnumber": "dgmhdm",
    "emailaddress": "EMAIL@EMAIL.COM",
    "employer": "SONSHINE SCHOOL",
    "employeraddress": " 123 MAIN STt",
    "employercity": " CITY",
    "employerphone": "1112223333",
    "employerstate": "ST",
    "employerzip": " 12345",
    "filenumber": "R1001",
    "firstname": "MALIA",
    "fullname": "MALIA GUEST",
    "id": 2,
    "judgementdate": " 01/25/23",
    "lastname": "GUEST",
    "lastworked": "1/23/2024",
    "occupation": " TEACHER",
    "orderbydate": "Thu, 01 Dec 2022 00:00:00 GMT",
    "originalbalance": "809.00",
    "originalcreditor": "C2C Loan Advance",
    "originalprincipal": "809.00",
    "portfolio": "C2C PDL TEST",
    "principal": "809.00",
    "statusname": "Bankruptcy",
    "statuteoflimdate": "Sun, 20 May 2018 00:00:00 GMT",
    "verifieddate": "10/6/2023",
    "state": "AL",
    "zip": "36104",
    "reportfilenumber": "",
}

# R1050 in the seed's getaccountbysocial and get_accounts_in_portfolio examples.
CLAUDIA: Final[dict[str, AccountValue]] = {
    "accountnumber": "12345679",
    "address": "15 MAIN ST",
    "asset1value": "7,000",
    "assettype1": "Cash",
    "assettype2": "Vehicles",
    "assettype2value": " 4,000",
    "assettype3": "Collectables",
    "assettype3value": " 2,000",
    "assignedto": "OUT",
    "attorneyaddress2": " ",
    "attorneycity": " City",
    "attorneyemailaddress": " email@email.com",
    "attorneyname": " ATTORNEY CONTACT",
    "attorneystate": "GA",
    "birthdate": "10/18/1965",
    "city": "GARDEN",
    "clientname": "C2C",
    "codebtor1fullname": " NAME LAST",
    "codebtor2employername": " SONSHINE SCHOOL",
    "codebtor2fullname": " CODEBTOR 2 CONTACT",
    "codebtor2primaryphone": " 5556667777",
    "collectorname": "Mark",
    "contingencyamount": "100%",
    "courtfiled": "10/26/2023",
    "courtphone": "1112223333",
    "currentbalance": "809.00",
    "custom1": "UNITED SOUTHERN BANK",
    "custom15": "",
    "custom2": "063105285",
    "custom3": "124",
    "custom4": "1234",
    "custom5": "Bank Info",
    "custom6": "email@email.com",
    "dateaccountopened": "3/6/2013",
    "datechargedoff": "5/20/2013",
    "datefiled": "10/26/2023",
    "datelastassigned": "Mon, 05 Dec 2022 12:20:57 GMT",
    "datelastdialed": "Mon, 05 Dec 2022 00:00:00 GMT",
    "datelaststatuschg": "Mon, 05 Dec 2022 12:20:57 GMT",
    "dateplaced": "12/5/2022",
    "deceaseddate": "null",
    "emailaddress": "TEST@EMAIL.COM",
    "employer": "SONSHINE SCHOOL",
    "employerphone": "1112223333",
    "filenumber": "R1050",
    "firstname": "CLAUDIA",
    "fullname": "CLAUDIA LAST NAME",
    "garnishmentamount": "7,000",
    "garnishmentdate": " 11/23/23",
    "id": 51,
    "jointfullname": " CLAUDE LASTNAME",
    "jointprimaryphone": " 1231231234",
    "judgementdate": " 01/01/22",
    "lastname": "LAST NAME",
    "lastworked": "11/14/2023",
    "leinamount": " ",
    "occupation": " TEACHER",
    "orderbydate": "Mon, 05 Dec 2022 00:00:00 GMT",
    "originalbalance": "809.00",
    "originalcreditor": "C2C Loan Advance",
    "originalprincipal": "809.00",
    "portfolio": "C2CLA 12.1.22",
    "principal": "809.00",
    "socialsecuritynumber": "111-22-3333",
    "spouseemployer": " SONSHINE SCHOOL",
    "spousename": " CLAUDE LASTNAME",
    "spouseoccupation": "Teacher",
    "spouseworkphone": " 1112223333",
    "statusname": "OUTSOURCE",
    "verifieddate": "10/26/2023",
    "zip": "12345",
    "groupname": "New Alert added to this account.\r\nAdditional Information Added.",
    "state": "AL",
}

# R1000 (IVANA LAST NAME), as the seed's getphones and getAlaccountdata examples name her. The seed's
# account-change note moved her to placeholders ("CITY", "ST", "12345"); the demo keeps the real place she
# moved from, so that calling-hours checks work on the headline account.
IVANA: Final[dict[str, AccountValue]] = {
    "firstname": "IVANA",
    "middlename": " ",
    "lastname": "LAST NAME",
    "fullname": "IVANA LAST NAME",
    "address": "PO BOX 0123",
    "address2": "",
    "city": "MORIARTY",
    "state": "NM",
    "zip": "87035",
    "emailaddress": "EMAIL@EMAIL.COM",
    "employer": "SONSHINE SCHOOL",
    "occupation": " TEACHER",
    "dateplaced": "12/1/2022",
    "orderbydate": "Thu, 01 Dec 2022 00:00:00 GMT",
    "statusname": "ACTIVE",
}

# R1000: the seed's getphones rows.
IVANA_PHONES: Final[tuple[dict[str, Any], ...]] = (
    {
        "id": 15171286,
        "assignedto": None,
        "balance": None,
        "firstname": "IVANA",
        "isagoodnumber": None,
        "lastchange": "Mon, 27 Nov 2023 12:15:27 GMT",
        "lastname": "LAST NAME",
        "phonenumber": "123-456-7890",
        "phonestatus": "UNKNOWN",
        "phonetype": "UNKNOWN",
        "source": "",
        "typeofdebt": None,
    },
    {
        "id": 15171583,
        "assignedto": "agent",
        "balance": "$0.00",
        "firstname": "",
        "isagoodnumber": "UNKNOWN",
        "lastchange": "0000-00-00 00:00:00",
        "lastname": "",
        "phonenumber": "222-333-4444",
        "phonestatus": "UNKNOWN",
        "phonetype": "UNKNOWN",
        "source": "USER",
        "typeofdebt": "debt",
    },
)

# R1000: the seed's getnotes rows as (id, collectorname, logdate, logtime, logmessage).
IVANA_NOTES: Final[tuple[tuple[int, str, str, str, str], ...]] = (
    (34610632, "System", "12/1/2022", "1:16 PM", "|ACCOUNT IMPORTED INTO DATABASE|"),
    (
        34610938,
        "agent",
        "11/27/2023",
        "12:14 PM",
        "|Account Change |\r\nFirst Name from IYANNA to IVANA\r\nLast Name from NAVARRO to LAST NAME\r\n"
        "Email Name from TEST@gmail.com1 to EMAIL@EMAIL.COM\r\nAddress from PO BOX 1858 to PO BOX 0123\r\n"
        "Address2 from TORRANCE COUNTY) to \r\nCity from MORIARTY to CITY\r\nState from NM to ST\r\n"
        "Zip from 87035 to 12345",
    ),
    (34610939, "agent", "11/27/2023", "12:15 PM", "|DELETED| PHONE NUMBER 505-855-5505"),
    (34610940, "agent", "11/27/2023", "12:15 PM", "|DELETED| PHONE NUMBER 505-832-5477"),
    (
        34610941,
        "agent",
        "11/27/2023",
        "12:15 PM",
        "Changed phonenumbe id: 15171286 from 505-855-5555 to 123-456-7890 Type: UNKNOWN Status: UNKNOWN",
    ),
    (34610942, "agent", "11/27/2023", "12:16 PM", "|Added Alert| BANKRUPT ACCOUNT"),
    (34610943, "agent", "11/27/2023", "12:43 PM", "Changed Custom Field: Label4 from  to 12345"),
    (34611022, "agent", "1/12/2024", "9:15 AM", "|Added Alert| "),
    (34611023, "agent", "1/12/2024", "9:17 AM", "|Added Alert| Added new alert."),
    (34611024, "agent", "1/12/2024", "9:19 AM", "|Added Alert| "),
    (34611025, "agent", "1/12/2024", "9:20 AM", "|Added Alert| Added new alert."),
    (34611026, "agent", "1/12/2024", "9:24 AM", "Added Phonenumber : 111-222-3333 Type: UNKNOWN Status: UNKNOWN"),
    (34611027, "agent", "1/12/2024", "9:26 AM", "Added Phonenumber : 222-333-4444 Type: UNKNOWN Status: UNKNOWN"),
)

# R1001 (MALIA GUEST): the seed's phone numbers (getattempts, updatephone examples).
MALIA_PHONES: Final[tuple[tuple[str, str, str], ...]] = (
    ("555-589-5050", "CELL", "Good Number"),
    ("222-222-2222", "HOME", "UNKNOWN"),
    ("407-253-7828", "UNKNOWN", "UNKNOWN"),
)

# R1001: the seed's getattempts rows as (yyyy-mm-dd, time, dispo, phone). Older rows carry "filename", the
# newest "filenumber", exactly as in the seed's example response.
MALIA_ATTEMPTS: Final[tuple[tuple[str, str, str, str], ...]] = (
    ("2023-10-04", "09:45", "LEFT MESSAGE MACHINE", "555-589-5050"),
    ("2023-10-04", "10:23", "SPOKE TO DEBTOR", "555-589-5050"),
    ("2024-01-23", "07:24", "LEFT MESSAGE MACHINE", "222-222-2222"),
)

# R1001: the seed's getpayments rows as (datetaken, paymentamount, paymentdate). A plan taken on 2/20/2024, so
# the balance in the seed's getaccount example (809.00) does not reflect them.
MALIA_PAYMENTS: Final[tuple[tuple[str, str, str], ...]] = (
    ("2/20/2024", "15.00", "Tue, 20 Feb 2024 00:00:00 GMT"),
    ("2/20/2024", "150.00", "Tue, 27 Feb 2024 00:00:00 GMT"),
    ("2/20/2024", "150.00", "Tue, 05 Mar 2024 00:00:00 GMT"),
)

# R1050 (CLAUDIA LAST NAME): phone1..phone8 and their statuses from the seed's get_accounts_in_portfolio row.
CLAUDIA_PHONES: Final[tuple[tuple[str, str], ...]] = (
    ("111-222-3333", "Good Number"),
    ("222-333-4444", "Disconnected"),
    ("451-589-8544", "Disconnected"),
    ("111-111-1111", "UNKNOWN"),
    ("222-222-2222", "UNKNOWN"),
    ("333-333-3333", "UNKNOWN"),
    ("444-444-4444", "UNKNOWN"),
    ("555-555-5555", "UNKNOWN"),
)

# R1005 (ANTHONY POPE): the seed's searchbyphone example, state and ZIP as given there.
POPE: Final[dict[str, AccountValue]] = {
    "firstname": "ANTHONY",
    "lastname": "POPE",
    "fullname": "ANTHONY POPE",
    "address": "HCR 67 BOX 108",
    "city": "MARFA",
    "state": "MT",
    "zip": "79843",
    "birthdate": "",
}
POPE_PHONE: Final = "716-628-9899"

# R1166: the seed's getemails rows (the recipient moved to example.com).
EMAIL_ID_R1166: Final = "1bd709a7-8cac-4c1e-a4f7-e82b21d9c14e"
EMAIL_TO_R1166: Final = "egallagher@example.com"
R1166_EMAILS: Final[tuple[tuple[int, str, str, str, str], ...]] = (
    # (id, DateLoaded, IPAddress, TrackingType, UserAgent)
    (2098037, "Thu, 07 Mar 2024 15:39:00 GMT", "34.227.69.252", "OkToSend", ""),
    (2098038, "Thu, 07 Mar 2024 15:39:02 GMT", "72.21.217.15", "Delivery", ""),
    (
        2098039,
        "Thu, 07 Mar 2024 15:39:48 GMT",
        "72.65.17.16",
        "Open",
        "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
    ),
)
R1166_SUBJECT: Final = "Keep Your Account in Good Standing"
