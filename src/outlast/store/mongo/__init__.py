"""The MongoDB backend of the durable store: ``MongoStore`` on any async MongoDB client, its
collections and indexes, and the codec between records and documents.

Public names are re-exported by :mod:`outlast.store`; the modules here are private.
"""
