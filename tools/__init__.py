"""Vendor toolsets: one package per vendor (wire client, typed models, thin tool specs)."""
