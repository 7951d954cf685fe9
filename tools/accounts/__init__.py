"""Cross-vendor account tools (snapshot, contact verdict, identity check) and the contact compliance rules."""
