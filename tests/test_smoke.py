def test_settings_use_the_suites_redis(redis_db):
    assert redis_db.ping()
