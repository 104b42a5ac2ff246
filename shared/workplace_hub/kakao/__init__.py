"""KakaoTalk AlimTalk through NAVER Cloud SENS: the sender, its SMS failover and result lookups."""
