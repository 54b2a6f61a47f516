"""From path documents to profiles, nucleation barriers, capacities and plots."""
