"""One module per platform; each exposes `build_router(state) -> APIRouter`."""

EMULATORS = ("wecom", "youzan", "taobao", "jd", "pdd", "douyin")
