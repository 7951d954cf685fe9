"""The approval inbox's web page for supervisors (/approvals on the streamable HTTP app): sign-in, the pending list, decisions."""
