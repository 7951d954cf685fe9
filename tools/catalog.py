"""The toolsets this distribution ships, in the order their tools are listed.

The one place the vendor packages meet. The server finds this tuple through the `collections_mcp.toolsets`
entry point (pyproject.toml), never by importing it: a vendor package arrives or leaves here, and `server/`
does not change. Another installed distribution may add toolsets under the same entry-point group.
"""

from __future__ import annotations

from collections_mcp.tools.accounts.tools import TOOLSET as ACCOUNTS
from collections_mcp.tools.billing_care.tools import TOOLSET as BILLING_CARE
from collections_mcp.tools.collect.tools import TOOLSET as COLLECT
from collections_mcp.tools.common.spec import Toolset
from collections_mcp.tools.procurios.tools import TOOLSET as PROCURIOS
from collections_mcp.tools.scollect.tools import TOOLSET as SCOLLECT

TOOLSETS: tuple[Toolset, ...] = (SCOLLECT, COLLECT, BILLING_CARE, PROCURIOS, ACCOUNTS)
