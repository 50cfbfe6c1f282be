//! redis-multimap: a Redis module adding the MultiMap data type.
