"""Collect! (Comtech Systems): client, models, record tools and the contact-plan bridge."""
