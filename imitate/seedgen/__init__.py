"""Seed questions written by the teacher: list parsing, elimination rules, similarity, rounds.

Used by imitate/stages/seeds.py; each module here is pure except `asker` (talks to the teacher).
"""
