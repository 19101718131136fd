"""The city extract contract (version 1), section 3, as data: the extract kinds and their columns.

One declaration per column: canonical name, Chinese alias, type, whether it is
required (always, or when a condition on the row holds), its codes, and whether
it is personal data. Parsing, raw tables and the simulator read this one place.
The rules (section 3's "rule" column, and what a column's type and requiredness
imply) are declared in ``oversight.contract.rules``, from which validation and
the Great Expectations suites are generated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

ColumnType = Literal["text", "code6", "uscc", "enum", "bool", "date", "timestamp", "money", "decimal"]


@dataclass(frozen=True)
class When:
    """A condition on another column of the same row: ``column`` in ``values`` (or not in)."""

    column: str
    values: tuple[str, ...]
    negate: bool = False

    def describe(self) -> str:
        op = "is not" if self.negate else "is"
        return f"{self.column} {op} {'/'.join(self.values)}"


@dataclass(frozen=True)
class Column:
    name: str
    alias: str
    type: ColumnType
    required: bool | When = False
    enum: dict[str, str] = field(default_factory=dict)  # code -> Chinese label
    personal: bool = False


@dataclass(frozen=True)
class ExtractSpec:
    kind: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def always_required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required is True)


CATEGORY = {"subject": "学科类", "non_subject": "非学科类"}
MODE = {"offline": "线下", "online": "线上"}

INSTITUTIONS = ExtractSpec(
    kind="institutions",
    key=("institution_id",),
    description="full snapshot of every institution the city supervises, as of D (including cancelled ones)",
    columns=(
        Column("institution_id", "统一社会信用代码", "uscc", True),
        Column("institution_name", "机构名称", "text", True),
        Column("city_code", "城市代码", "code6", True),
        Column("district", "区县", "text"),
        Column("category", "机构类别", "enum", True, enum=CATEGORY),
        Column(
            "non_subject_field",
            "非学科类别",
            "enum",
            When("category", ("non_subject",)),
            enum={"sports": "体育", "arts": "文化艺术", "tech": "科技", "other": "其他"},
        ),
        Column(
            "stage", "学段", "enum", True, enum={"compulsory": "义务教育", "high_school": "普通高中", "other": "其他"}
        ),
        Column("delivery_mode", "培训形式", "enum", True, enum=MODE),
        Column("baseline_category", "原机构类别", "enum", enum=CATEGORY),
        Column(
            "status", "机构状态", "enum", True, enum={"active": "正常", "cancelled": "已注销", "suspended": "停业整顿"}
        ),
        Column("nonprofit", "是否登记为非营利性", "bool", True),
        Column("approved_date", "审批日期", "date", True),
        Column("status_changed_date", "状态变更日期", "date", When("status", ("active",), negate=True)),
        Column("license_no", "办学许可证号", "text"),
        Column("address", "办学地址", "text"),
        Column("residential_premises", "是否居民楼", "bool"),
        Column(
            "fund_supervision_mode",
            "资金监管方式",
            "enum",
            True,
            enum={"escrow": "银行托管", "reserve": "风险保证金", "none": "未纳入监管"},
        ),
        Column("custodian_bank", "托管银行", "text", When("fund_supervision_mode", ("escrow",))),
        Column("on_platform", "是否入驻监管平台", "bool", True),
        Column("uses_model_contract", "是否使用示范合同", "bool", True),
    ),
)

FEE_LEDGER = ExtractSpec(
    kind="fee_ledger",
    key=("movement_id",),
    description="every movement of money on the supervised accounts that occurred on D",
    columns=(
        Column("movement_id", "流水号", "text", True),
        Column("institution_id", "统一社会信用代码", "uscc", True),
        Column("account_no", "监管账户", "text", True),
        Column(
            "movement_type",
            "资金类型",
            "enum",
            True,
            enum={
                "prepaid": "预收费入账",
                "release": "销课划拨",
                "refund": "退费划出",
                "reserve_deposit": "保证金缴存",
                "reserve_release": "保证金释放",
            },
        ),
        Column("amount_yuan", "金额", "money", True),
        Column("occurred_at", "发生时间", "timestamp", True),
        Column("order_id", "订单号", "text", When("movement_type", ("prepaid", "release", "refund"))),
        Column("student_id_no", "学员身份证号", "text", When("movement_type", ("prepaid",)), personal=True),
        Column("student_name", "学员姓名", "text", personal=True),
        Column("course_category", "课程类别", "enum", When("movement_type", ("prepaid",)), enum=CATEGORY),
        Column("class_hours", "课时数", "decimal", When("movement_type", ("prepaid", "release"))),
        Column("unit_price_yuan", "课时单价", "money", When("movement_type", ("prepaid",))),
        Column("delivery_mode", "培训形式", "enum", When("movement_type", ("prepaid",)), enum=MODE),
        Column(
            "class_type",
            "班型",
            "enum",
            When("movement_type", ("prepaid",)),
            enum={"small": "小班", "medium": "中班", "large": "大班"},
        ),
        Column("service_start_date", "服务开始日期", "date", When("movement_type", ("prepaid",))),
        Column("service_end_date", "服务结束日期", "date", When("movement_type", ("prepaid",))),
        Column(
            "channel",
            "缴费渠道",
            "enum",
            When("movement_type", ("prepaid",)),
            enum={"platform": "监管平台", "bank_transfer": "对公转账", "cash": "现金", "other": "其他"},
        ),
        Column("class_started_at", "上课开始时间", "timestamp", When("movement_type", ("release",))),
        Column("class_ended_at", "上课结束时间", "timestamp", When("movement_type", ("release",))),
    ),
)

REFUNDS = ExtractSpec(
    kind="refunds",
    key=("refund_id",),
    description="refund cases opened or changed on D (latest state)",
    columns=(
        Column("refund_id", "退费编号", "text", True),
        Column("institution_id", "统一社会信用代码", "uscc", True),
        Column("order_id", "订单号", "text"),
        Column("student_name", "学员姓名", "text", personal=True),
        Column("guardian_phone", "家长电话", "text", personal=True),
        Column("requested_amount_yuan", "申请退费金额", "money", True),
        Column("refunded_amount_yuan", "已退金额", "money", True),
        Column(
            "method",
            "退费方式",
            "enum",
            When("status", ("completed",)),
            enum={"cash": "现金退费", "course_exchange": "兑换课程", "judicial": "司法程序"},
        ),
        Column(
            "status",
            "办理状态",
            "enum",
            True,
            enum={"requested": "已申请", "in_progress": "办理中", "completed": "已完成", "rejected": "不予退费"},
        ),
        Column("requested_date", "申请日期", "date", True),
        Column("completed_date", "完成日期", "date", When("status", ("completed",))),
        Column("updated_at", "更新时间", "timestamp", True),
    ),
)

COMPLAINTS = ExtractSpec(
    kind="complaints",
    key=("complaint_id",),
    description="complaint clues received or changed on D (latest state)",
    columns=(
        Column("complaint_id", "线索编号", "text", True),
        Column("city_code", "城市代码", "code6", True),
        Column(
            "received_channel",
            "受理渠道",
            "enum",
            True,
            enum={
                "province_hotline": "省级热线",
                "city_hotline": "市级热线",
                "county_hotline": "区县热线",
                "platform": "监管平台",
                "other": "其他",
            },
        ),
        Column("scope", "涉及范围", "enum", True, enum={"in_school": "校内", "out_of_school": "校外"}),
        Column("institution_id", "统一社会信用代码", "uscc"),
        Column(
            "category",
            "线索类别",
            "enum",
            True,
            enum={
                "unlicensed_training": "无证培训",
                "hidden_variant": "隐形变异培训",
                "subject_violation": "违规学科类培训",
                "fees": "收费问题",
                "refund": "退费问题",
                "homework": "作业负担",
                "after_school": "课后服务",
                "other": "其他",
            },
        ),
        Column("received_at", "受理时间", "timestamp", True),
        Column(
            "status", "办理状态", "enum", True, enum={"open": "办理中", "transferred": "已转办", "closed": "已办结"}
        ),
        Column("closed_at", "办结时间", "timestamp", When("status", ("closed",))),
        Column("reporter_phone", "来电号码", "text", personal=True),
        Column("summary", "线索摘要", "text", personal=True),
        Column("updated_at", "更新时间", "timestamp", True),
    ),
)

SPECS: Final[dict[str, ExtractSpec]] = {s.kind: s for s in (INSTITUTIONS, FEE_LEDGER, REFUNDS, COMPLAINTS)}
