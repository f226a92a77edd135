"""The demo data set's tables: the colleges and cohorts of a graduate school and its term's catalog.

Numbers follow the real round: 7,390 students, 180 offerings (80 pe, 55 arts, 45 labor) whose
seats add up to a little more than the ~51,000 selections of an opening.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from courses.models import Category, Day, Degree, Kind

CENTRAL, NORTH, RIVERSIDE = "Central Campus", "North Campus", "Riverside Campus"
CAMPUSES = (CENTRAL, NORTH, RIVERSIDE)

#: (college, its campus, share of the students)
COLLEGES: tuple[tuple[str, str, int], ...] = (
    ("School of Mathematical Sciences", CENTRAL, 6),
    ("School of Physics", CENTRAL, 7),
    ("College of Chemistry", CENTRAL, 8),
    ("School of Economics", CENTRAL, 10),
    ("Law School", CENTRAL, 7),
    ("School of Foreign Languages", CENTRAL, 5),
    ("School of Computer Science", NORTH, 14),
    ("School of Mechanical Engineering", NORTH, 9),
    ("School of Materials Science", NORTH, 7),
    ("School of Environment", NORTH, 6),
    ("School of Medicine", RIVERSIDE, 13),
    ("School of Public Health", RIVERSIDE, 8),
)

#: Master's programmes last two to three years, doctorates four: few masters are left from 2022.
COHORTS: dict[tuple[int, Degree], int] = {
    (2025, "master"): 2100,
    (2024, "master"): 1950,
    (2023, "master"): 1100,
    (2022, "master"): 150,
    (2025, "phd"): 560,
    (2024, "phd"): 540,
    (2023, "phd"): 510,
    (2022, "phd"): 480,
}

# fmt: off
SURNAMES = (
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Zhu", "Hu",
    "Guo", "He", "Lin", "Gao", "Luo", "Zheng", "Liang", "Xie", "Song", "Tang", "Han", "Feng", "Deng", "Cao", "Peng",
    "Zeng", "Xiao", "Tian", "Dong", "Pan", "Yuan", "Cai", "Jiang", "Yu", "Du", "Ye", "Cheng", "Wei", "Su", "Lu",
    "Ding", "Ren", "Shen", "Yao"
)
SYLLABLES = (
    "Hao", "Zi", "Yu", "Xin", "Yi", "Jia", "Wen", "Ming", "Jun", "Rui", "Chen", "Xuan", "Han", "Yang", "Jing",
    "Tian", "Qing", "Lin", "Shu", "Ya", "An", "Bo", "Kai", "Ning", "Yue", "Si", "Meng", "Ze", "Hong", "Fang", "Min",
    "Lei", "Tao", "Jie", "Hui", "Ting", "Lan", "Wei", "Xiao", "Yun", "Qian", "Zhe"
)
WORLD_GIVEN = (
    "Maria", "Ahmed", "Olga", "Kenji", "Anna", "David", "Fatima", "Lucas", "Aisha", "Minh", "Sofia", "Daniel",
    "Priya", "Tomas", "Nadia", "Ivan"
)
WORLD_FAMILY = (
    "Garcia", "Khan", "Ivanova", "Sato", "Schmidt", "Kim", "Nguyen", "Silva", "Rahman", "Petrov", "Haddad", "Novak",
    "Okafor", "Rossi", "Singh"
)
# fmt: on

WEEKDAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri")
#: The timetable's periods, in pairs; an offering on its own hours overlaps some of them.
BLOCKS = ("08:00-09:40", "10:00-11:40", "14:00-15:40", "16:00-17:40", "19:00-20:40")
DECEMBER = [dt.date(2026, 12, d) for d in range(1, 24)]
WEEKENDS = [d for d in DECEMBER if d.weekday() >= 5]


class Line(NamedTuple):
    """One line of the catalog: a course with its sections, or an activity with its dates."""

    category: Category
    slug: str
    title: str
    kind: Kind
    sections: int
    capacity: int
    #: Students wanting a seat, relative to the seats there are; above 1 fills before the rest.
    popularity: float
    #: Its own hours ("15:00-17:00"), else a timetable period; activities always give theirs.
    hours: str = ""
    where: tuple[str, ...] = CAMPUSES
    #: "campus" (that section's campus only), "phd", "master", or cohorts ("2025", "2022 2023").
    only: str = ""
    host: str = ""


COURSE: Kind = "course"
ACTIVITY: Kind = "activity"
CATALOG: tuple[Line, ...] = (
    # pe: 67 course sections, 13 activities
    Line("pe", "swim-beginners", "Swimming (Beginners)", COURSE, 4, 60, 8.0, where=(CENTRAL, NORTH), only="campus"),
    Line("pe", "swim-improvers", "Swimming (Improvers)", COURSE, 2, 50, 5.0, where=(CENTRAL, NORTH)),
    Line("pe", "badminton", "Badminton", COURSE, 6, 64, 6.0),
    Line("pe", "yoga", "Yoga", COURSE, 5, 60, 6.0),
    Line("pe", "table-tennis", "Table Tennis", COURSE, 4, 80, 3.0),
    Line("pe", "tennis", "Tennis", COURSE, 3, 48, 4.0, where=(CENTRAL, NORTH)),
    Line("pe", "basketball", "Basketball", COURSE, 4, 120, 1.5),
    Line("pe", "football", "Football", COURSE, 3, 150, 1.2),
    Line("pe", "volleyball", "Volleyball", COURSE, 3, 120, 1.0),
    Line("pe", "tai-chi", "Tai Chi", COURSE, 4, 250, 0.7),
    Line("pe", "aerobics", "Aerobics and Dance Fitness", COURSE, 3, 150, 1.5),
    Line("pe", "strength", "Strength and Conditioning", COURSE, 3, 100, 2.0),
    Line("pe", "running", "Running and Endurance", COURSE, 3, 350, 0.6),
    Line("pe", "wushu", "Wushu (Chinese Martial Arts)", COURSE, 2, 120, 1.0),
    Line("pe", "pilates", "Pilates", COURSE, 2, 60, 4.0),
    Line("pe", "climbing", "Rock Climbing", COURSE, 2, 40, 4.0, hours="15:00-17:00", where=(NORTH,)),
    Line("pe", "fencing", "Fencing", COURSE, 2, 40, 2.5, hours="18:30-20:00", where=(CENTRAL,)),
    Line("pe", "frisbee", "Ultimate Frisbee", COURSE, 2, 120, 1.0),
    Line("pe", "archery", "Archery", COURSE, 2, 40, 3.0, where=(RIVERSIDE,), only="campus"),
    Line("pe", "sports-dance", "Sports Dance", COURSE, 2, 120, 1.2),
    Line("pe", "rowing", "Rowing", COURSE, 1, 40, 2.0, hours="07:00-08:30", where=(RIVERSIDE,), only="campus"),
    Line("pe", "adapted", "Adapted Physical Activity", COURSE, 1, 60, 0.3),
    Line("pe", "baduanjin", "Baduanjin Qigong", COURSE, 2, 300, 0.5, hours="07:00-08:00"),
    Line("pe", "jianzi", "Jianzi (Shuttlecock Kicking)", COURSE, 1, 80, 0.5),
    Line("pe", "phd-fitness", "Fitness for Doctoral Researchers", COURSE, 1, 150, 0.8, only="phd"),
    Line(
        "pe", "half-marathon", "Winter Half-Marathon", ACTIVITY, 1, 1200, 0.7, "07:30-12:00", host="Sports Department"
    ),
    Line("pe", "orienteering", "Campus Orienteering Day", ACTIVITY, 1, 800, 0.8, "13:30-17:00"),
    Line("pe", "relay", "Freshers' Cross-Country Relay", ACTIVITY, 1, 800, 0.6, "14:00-16:30", only="2025"),
    Line("pe", "hike", "Winter Hike in the Western Hills", ACTIVITY, 2, 500, 1.0, "08:00-16:00"),
    Line("pe", "tug-of-war", "Inter-College Tug-of-War", ACTIVITY, 1, 600, 0.8, "15:00-17:00"),
    Line("pe", "badminton-open", "Badminton Open Tournament", ACTIVITY, 1, 256, 3.0, "09:00-17:00"),
    Line("pe", "skating", "Ice Skating Afternoon", ACTIVITY, 2, 400, 2.0, "14:00-16:00"),
    Line("pe", "ski", "Ski Taster Day", ACTIVITY, 1, 240, 5.0, "07:00-18:00"),
    Line("pe", "fitness-test", "Physical Fitness Assessment", ACTIVITY, 2, 600, 0.5, "08:30-11:30"),
    Line("pe", "fun-run", "New Year Fun Run", ACTIVITY, 1, 800, 0.8, "15:00-16:30"),
    # arts: 44 course sections, 11 activities
    Line("arts", "ceramics", "Ceramics", COURSE, 4, 30, 10.0, hours="14:00-16:30", where=(CENTRAL,)),
    Line("arts", "calligraphy", "Chinese Calligraphy", COURSE, 4, 100, 2.0),
    Line("arts", "ink-painting", "Chinese Ink Painting", COURSE, 3, 60, 2.0),
    Line("arts", "photography", "Photography", COURSE, 3, 80, 3.0),
    Line("arts", "choir", "Choir", COURSE, 2, 150, 0.8),
    Line("arts", "guitar", "Guitar for Beginners", COURSE, 3, 40, 5.0),
    Line("arts", "piano", "Piano Basics", COURSE, 2, 30, 6.0, where=(CENTRAL,)),
    Line("arts", "drama", "Drama Workshop", COURSE, 2, 60, 1.5),
    Line("arts", "film", "Film Appreciation", COURSE, 3, 1000, 0.9),
    Line("arts", "music", "Western Classical Music Appreciation", COURSE, 2, 800, 0.7),
    Line("arts", "opera", "Peking Opera Appreciation", COURSE, 2, 600, 0.6),
    Line("arts", "writing", "Creative Writing", COURSE, 2, 50, 1.2),
    Line("arts", "paper-cutting", "Paper Cutting", COURSE, 2, 60, 1.5),
    Line("arts", "dance", "Contemporary Dance", COURSE, 2, 60, 2.0),
    Line("arts", "sketching", "Sketching and Drawing", COURSE, 2, 60, 1.5),
    Line("arts", "digital", "Digital Illustration", COURSE, 1, 50, 3.0, where=(NORTH,), only="campus"),
    Line("arts", "erhu", "Erhu", COURSE, 1, 30, 1.0),
    Line("arts", "art-history", "Art History: From Dunhuang to Modernism", COURSE, 2, 800, 0.6),
    Line("arts", "design", "Aesthetics and Design Thinking", COURSE, 2, 800, 0.6),
    Line("arts", "concert", "New Year Concert", ACTIVITY, 1, 2400, 2.0, "19:00-21:30", host="Arts Centre"),
    Line("arts", "museum", "Palace Museum Winter Exhibition Visit", ACTIVITY, 3, 600, 1.2, "09:00-12:00"),
    Line("arts", "exhibition", "Winter Art Exhibition Opening", ACTIVITY, 1, 1500, 0.6, "18:30-20:30"),
    Line("arts", "theatre", "Theatre Night: Student Drama Festival", ACTIVITY, 2, 1000, 1.0, "19:00-21:30"),
    Line("arts", "poetry", "Poetry Evening", ACTIVITY, 1, 600, 0.5, "19:00-21:00", only="master"),
    Line("arts", "lanterns", "Lantern Making Workshop", ACTIVITY, 2, 300, 1.5, "14:00-17:00"),
    Line("arts", "open-studio", "Ceramics Open Studio", ACTIVITY, 1, 40, 8.0, "13:00-17:00", where=(CENTRAL,)),
    # labor: 24 course sections, 21 activities
    Line("labor", "farming", "Urban Farming Practice", COURSE, 3, 80, 1.5, where=(NORTH, RIVERSIDE)),
    Line("labor", "woodworking", "Woodworking Workshop", COURSE, 2, 30, 5.0, where=(NORTH,)),
    Line("labor", "greenery", "Campus Greenery Care", COURSE, 2, 100, 1.0),
    Line("labor", "library", "Library Stacks Service", COURSE, 2, 60, 1.0),
    Line("labor", "kitchen", "Canteen Kitchen Practice", COURSE, 2, 40, 2.0),
    Line("labor", "bicycle", "Bicycle Repair Workshop", COURSE, 1, 30, 3.0),
    Line("labor", "lab-upkeep", "Laboratory Safety and Upkeep", COURSE, 2, 300, 0.8, only="phd"),
    Line("labor", "society", "Labor, Work and Society", COURSE, 3, 1500, 0.7),
    Line("labor", "life-skills", "Dormitory Life Skills", COURSE, 2, 800, 0.7),
    Line("labor", "cooking", "Home Cooking Basics", COURSE, 2, 40, 6.0),
    Line("labor", "repairs", "Household Repairs and Electrics", COURSE, 2, 60, 1.5),
    Line("labor", "tea", "Tea Growing and Processing", COURSE, 1, 40, 3.0, where=(RIVERSIDE,), only="campus"),
    Line("labor", "clean-up", "Campus Clean-Up Day", ACTIVITY, 3, 1500, 0.6, "08:30-11:30"),
    Line("labor", "snow", "Winter Snow Clearing", ACTIVITY, 2, 800, 0.6, "07:30-10:00"),
    Line("labor", "food-bank", "Food Bank Volunteering", ACTIVITY, 3, 300, 1.2, "13:30-17:30"),
    Line("labor", "elderly-care", "Elderly Care Home Visit", ACTIVITY, 3, 200, 1.0, "09:00-12:00"),
    Line("labor", "docent", "Museum Docent Day", ACTIVITY, 2, 150, 1.5, "09:00-16:00"),
    Line("labor", "marathon-crew", "Half-Marathon Volunteers", ACTIVITY, 1, 400, 0.7, "07:00-12:30"),
    Line("labor", "recycling", "Recycling Sorting Drive", ACTIVITY, 2, 1000, 0.6, "14:00-17:00"),
    Line("labor", "pruning", "Orchard Pruning Day", ACTIVITY, 2, 400, 1.0, "08:00-15:00"),
    Line("labor", "book-drive", "Book Drive for Rural Schools", ACTIVITY, 1, 800, 0.7, "10:00-16:00"),
    Line("labor", "blood-drive", "Blood Drive Volunteers", ACTIVITY, 1, 300, 0.8, "09:00-15:00"),
    Line("labor", "exam-stewards", "Exam Week Library Stewards", ACTIVITY, 1, 500, 0.7, "18:00-22:00"),
)

#: Each line's Chinese title (``title_zh``), as the school's own catalog prints it.
TITLES_ZH: dict[str, str] = {
    "swim-beginners": "游泳（初级）",
    "swim-improvers": "游泳（提高）",
    "badminton": "羽毛球",
    "yoga": "瑜伽",
    "table-tennis": "乒乓球",
    "tennis": "网球",
    "basketball": "篮球",
    "football": "足球",
    "volleyball": "排球",
    "tai-chi": "太极拳",
    "aerobics": "健美操与舞蹈健身",
    "strength": "体能与力量训练",
    "running": "长跑与耐力",
    "wushu": "武术",
    "pilates": "普拉提",
    "climbing": "攀岩",
    "fencing": "击剑",
    "frisbee": "极限飞盘",
    "archery": "射箭",
    "sports-dance": "体育舞蹈",
    "rowing": "赛艇",
    "adapted": "保健体育",
    "baduanjin": "八段锦",
    "jianzi": "毽球",
    "phd-fitness": "博士生体能锻炼",
    "half-marathon": "冬季半程马拉松",
    "orienteering": "校园定向越野日",
    "relay": "新生越野接力赛",
    "hike": "西山冬季徒步",
    "tug-of-war": "院际拔河比赛",
    "badminton-open": "羽毛球公开赛",
    "skating": "冰上滑冰体验",
    "ski": "滑雪体验日",
    "fitness-test": "体质健康测试",
    "fun-run": "新年欢乐跑",
    "ceramics": "陶艺",
    "calligraphy": "中国书法",
    "ink-painting": "中国水墨画",
    "photography": "摄影",
    "choir": "合唱",
    "guitar": "吉他入门",
    "piano": "钢琴基础",
    "drama": "戏剧工作坊",
    "film": "电影赏析",
    "music": "西方古典音乐欣赏",
    "opera": "京剧欣赏",
    "writing": "创意写作",
    "paper-cutting": "剪纸",
    "dance": "现代舞",
    "sketching": "素描",
    "digital": "数字插画",
    "erhu": "二胡",
    "art-history": "艺术史：从敦煌到现代主义",
    "design": "美学与设计思维",
    "concert": "新年音乐会",
    "museum": "故宫冬季特展参观",
    "exhibition": "冬季艺术展开幕",
    "theatre": "戏剧之夜：学生戏剧节",
    "poetry": "诗歌之夜",
    "lanterns": "花灯制作工作坊",
    "open-studio": "陶艺开放工作室",
    "farming": "城市农耕实践",
    "woodworking": "木工坊",
    "greenery": "校园绿化养护",
    "library": "图书馆书库服务",
    "kitchen": "食堂后厨实践",
    "bicycle": "自行车维修工坊",
    "lab-upkeep": "实验室安全与维护",
    "society": "劳动、工作与社会",
    "life-skills": "宿舍生活技能",
    "cooking": "家常烹饪基础",
    "repairs": "家庭维修与用电",
    "tea": "茶叶种植与制作",
    "clean-up": "校园清洁日",
    "snow": "冬季扫雪",
    "food-bank": "食物银行志愿服务",
    "elderly-care": "养老院探访",
    "docent": "博物馆讲解员日",
    "marathon-crew": "半程马拉松志愿者",
    "recycling": "垃圾分类回收行动",
    "pruning": "果园修剪日",
    "book-drive": "为乡村学校募书",
    "blood-drive": "献血志愿者",
    "exam-stewards": "考试周图书馆值守",
}

#: What a student reads about the offerings everyone wants; the rest get a line by kind.
ABOUT: dict[str, str] = {
    "swim-beginners": "Learn to swim in the indoor pool; for the students of the pool's campus. Swim cap required.",
    "swim-improvers": "Stroke technique and endurance for those who already swim 50 metres.",
    "badminton": "Footwork, clears, drops and doubles play; rackets lent, shuttles provided.",
    "yoga": "Hatha yoga for every level; bring a mat or borrow one.",
    "ceramics": "Hand-building and the wheel in the campus studio; clay and firing included. Longer sessions.",
    "open-studio": "An afternoon at the wheel with the ceramics teachers; no experience needed.",
    "ski": "A coach trip to the ski resort with two hours of lessons; equipment hire included.",
    "cooking": "Ten dishes a student can cook in a dormitory kitchen, from market to table.",
}
