"""Procurios CRM: contact moments (registrations of contact with relations)."""
