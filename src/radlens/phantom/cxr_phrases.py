"""Phrase bank of the phantom's chest X-ray reports (`radlens.phantom.cxr_reports`).

Templates are str.format strings: `{zone}` a lung zone in words, `{side}` right/left, `{sev}`
small/moderate/large, `{size}` "14 mm" / "2.3 cm", `{kind}` nodule / nodular opacity / mass.
Written for this project in the usual style of chest radiograph reports.
"""

from __future__ import annotations

ZONE_WORDS: dict[str, tuple[str, ...]] = {
    "right_upper_zone": ("right upper zone", "right upper lung", "right upper lung zone",
                         "right apex"),
    "right_middle_zone": ("right mid lung", "right midlung", "right middle zone",
                          "right perihilar region"),
    "right_lower_zone": ("right lower zone", "right lung base", "right base", "right lower lung"),
    "left_upper_zone": ("left upper zone", "left upper lung", "left upper lung zone",
                        "left apex"),
    "left_middle_zone": ("left mid lung", "left midlung", "left middle zone",
                         "left perihilar region"),
    "left_lower_zone": ("left lower zone", "left lung base", "left base", "left lower lung"),
    "right_pleura": ("right hemithorax",),
    "left_pleura": ("left hemithorax",),
}  # fmt: skip

FINDING_TEMPLATES: dict[str, tuple[str, ...]] = {
    "lung_lesion": (
        "{kind} measuring {size} in the {zone}.",
        "There is a rounded {kind} in the {zone} measuring {size}.",
        "Well-circumscribed {kind} projecting over the {zone}, about {size} in diameter.",
        "{zone} {kind}, approximately {size}.",
        "A {kind} is seen in the {zone}, measuring {size}.",
    ),
    "consolidation": (
        "Focal consolidation in the {zone}.",
        "There is airspace consolidation in the {zone}.",
        "Dense consolidation of the {zone} with air bronchograms.",
        "Consolidation is present in the {zone}.",
        "{zone} consolidation.",
    ),
    "lung_opacity": (
        "Hazy opacity in the {zone}.",
        "Patchy airspace opacity in the {zone}.",
        "There is ill-defined increased density in the {zone}.",
        "Faint opacities are seen in the {zone}.",
        "{zone} opacity.",
    ),
    "atelectasis": (
        "Linear atelectasis at the {side} base.",
        "Platelike atelectasis in the {zone}.",
        "{side} basilar atelectasis.",
        "Subsegmental atelectasis in the {zone}.",
    ),
    "atelectasis_both": (
        "Bibasilar atelectasis.",
        "Bibasilar linear atelectasis.",
        "Atelectatic changes at both bases.",
    ),
    "pleural_effusion": (
        "{sev} {side} pleural effusion.",
        "There is a {sev} {side}-sided pleural effusion.",
        "{sev} {side} effusion blunting the {side} costophrenic angle.",
        "Blunting of the {side} costophrenic angle due to a {sev} pleural effusion.",
    ),
    "pleural_effusion_both": (
        "{sev} bilateral pleural effusions.",
        "Bilateral pleural effusions, {sev} on the {side}.",
        "There are bilateral {sev} pleural effusions.",
    ),
    "pneumothorax": (
        "{sev} {side} pneumothorax.",
        "There is a {sev} {side} apical pneumothorax.",
        "{sev} {side}-sided pneumothorax is present.",
        "A {side} pneumothorax is seen, {sev} in size.",
    ),
    "cardiomegaly": (
        "The heart is enlarged.",
        "Cardiomegaly.",
        "The cardiac silhouette is enlarged.",
        "Enlarged cardiac silhouette.",
        "Moderate cardiomegaly.",
    ),
    "enlarged_cardiomediastinum": (
        "The mediastinum is widened.",
        "Widened mediastinum.",
        "Mediastinal widening.",
        "Widening of the mediastinum.",
    ),
    "hilar": ("Enlarged {side} hilum.", "{side} hilar enlargement.", "{side} hilar prominence."),
    "hilar_both": ("Bilateral hilar enlargement.", "Bilateral hilar prominence."),
}

IMPRESSION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "pneumothorax": ("{sev} {side} pneumothorax.", "{side} pneumothorax."),
    "lung_lesion": (
        "{zone} {kind}. Further evaluation with chest CT is advised.",
        "{kind} in the {zone}.",
        "{size} {zone} {kind}.",
    ),
    "consolidation": ("{zone} consolidation.", "Consolidation in the {zone}."),
    "pleural_effusion": ("{sev} {side} pleural effusion.", "{side} pleural effusion."),
    "lung_opacity": ("{zone} opacity.", "Hazy opacity in the {zone}."),
    "enlarged_cardiomediastinum": ("Mediastinal widening.", "Hilar enlargement."),
    "cardiomegaly": ("Cardiomegaly.", "Enlarged cardiac silhouette."),
    "atelectasis": ("{side} basilar atelectasis.", "Atelectasis in the {zone}."),
}
IMPRESSION_NORMAL: tuple[str, ...] = (
    "No acute cardiopulmonary abnormality.",
    "No active cardiopulmonary disease.",
    "Normal chest radiograph.",
    "No acute cardiopulmonary process.",
    "No radiographic evidence of acute cardiopulmonary disease.",
)
#: Pertinent negatives; a key "a+b" is used only when neither observation is present.
NEGATIVES: dict[str, tuple[str, ...]] = {
    "pneumothorax": (
        "No pneumothorax.",
        "There is no pneumothorax.",
        "No evidence of pneumothorax.",
    ),
    "pleural_effusion": ("No pleural effusion.", "No effusion.", "No pleural fluid."),
    "pneumothorax+pleural_effusion": (
        "No pleural effusion or pneumothorax.",
        "No pneumothorax or pleural effusion.",
        "There is no effusion or pneumothorax.",
    ),
    "consolidation": ("No focal consolidation.", "No focal airspace consolidation."),
    "edema": ("No pulmonary edema.", "No edema.", "No evidence of pulmonary edema."),
    "lung_lesion": ("No suspicious pulmonary nodule or mass.", "No nodules or masses are seen."),
    "lung_opacity+consolidation": ("No focal airspace disease.", "No focal infiltrate."),
}
NORMAL_HEART: tuple[str, ...] = (
    "Heart size is normal.",
    "The heart is normal in size.",
    "The cardiomediastinal silhouette is within normal limits.",
    "Normal heart size and mediastinal contours.",
    "Cardiac and mediastinal contours are unremarkable.",
)
NORMAL_LUNGS: tuple[str, ...] = (
    "The lungs are clear.",
    "Lungs are clear bilaterally.",
    "Both lungs are clear and well expanded.",
    "The lungs are well aerated and clear.",
)
NORMAL_BONES: tuple[str, ...] = (
    "No acute osseous abnormality.",
    "The osseous structures are intact.",
    "Visualized bones are unremarkable.",
    "Mild degenerative changes of the thoracic spine.",
    "Bony thorax is intact.",
)
INCIDENTAL_CXR: dict[str, tuple[str, ...]] = {
    "emphysema": (
        "The lungs are hyperinflated.",
        "Hyperinflation with flattening of the hemidiaphragms.",
        "Hyperexpanded lungs, compatible with emphysema.",
    ),
    "arterial_wall_calcification": (
        "Calcification of the aortic knob.",
        "Atherosclerotic calcification of the aortic arch.",
        "The thoracic aorta is calcified.",
    ),
}
EXAMS: tuple[str, ...] = (
    "Chest radiograph, single PA view.",
    "PA chest.",
    "Chest, 1 view.",
    "Frontal chest radiograph.",
    "Chest X-ray, PA projection.",
)
INDICATIONS_CXR: tuple[str, ...] = (
    "Cough.",
    "Shortness of breath.",
    "Chest pain.",
    "Preoperative evaluation.",
    "Fever and cough.",
    "Follow-up.",
    "Dyspnea on exertion.",
    "Routine examination.",
)
