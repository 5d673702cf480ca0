"""The viewer's lesion and sentence-map routes (viewers): the segmentation run's candidates and
their contour PNGs, and "show where: <sentence>" maps of the image-text run."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from radlens.service.access import Access
from radlens.service.auth import Principal
from radlens.service.imaging import LesionImages
from radlens.service.lesions import study_lesions
from radlens.service.store import Database
from radlens.service.text_maps import StudyTextMaps
from radlens.service.worklist import get_visible_study

__all__ = ["lesions_router", "text_maps_router"]

PNG = {"response_class": Response, "responses": {200: {"content": {"image/png": {}}}}}
SENTENCE = Query(..., min_length=1, max_length=200, description="e.g. 'right upper lobe mass'")


def lesions_router(
    db: Database, images: LesionImages, configured: bool, access: Access
) -> APIRouter:
    """`/studies/{id}/lesions` (the candidate list) and `/studies/{id}/lesions/{z}.png`."""
    router = APIRouter(tags=["images"])

    @router.get("/studies/{study_id}/lesions")
    def lesions(study_id: int, _: Principal = Depends(access.viewer)) -> dict:
        """The segmentation run's lesion candidates (diameter mm, volume ml, score, slice)."""
        with db.session() as session:
            get_visible_study(session, study_id)
        return {"segmentation": configured, "lesions": study_lesions(db, study_id)}

    @router.get("/studies/{study_id}/lesions/{z}.png", **PNG)
    def contours(
        study_id: int, z: int, selected: int | None = None, _: Principal = Depends(access.viewer)
    ) -> Response:
        """Candidate outlines on slice z (RGBA, transparent elsewhere)."""
        return Response(images.contour_png(study_id, z, selected), media_type="image/png")

    return router


def text_maps_router(maps: StudyTextMaps, access: Access) -> APIRouter:
    """`/studies/{id}/text-map?text=` (peak) and `/studies/{id}/text-map/{z}.png?text=`."""
    router = APIRouter(tags=["images"])

    @router.get("/studies/{study_id}/text-map")
    def text_map(study_id: int, text: str = SENTENCE, _: Principal = Depends(access.viewer)):
        """Where a sentence points on the study (image-text run): its peak voxel and slice."""
        return maps.peak(study_id, text)

    @router.get("/studies/{study_id}/text-map/{z}.png", **PNG)
    def text_map_png(
        study_id: int, z: int, text: str = SENTENCE, _: Principal = Depends(access.viewer)
    ) -> Response:
        """The sentence's map on slice z as an overlay (RGBA, transparent where it is low)."""
        return Response(maps.overlay_png(study_id, text, z), media_type="image/png")

    return router
