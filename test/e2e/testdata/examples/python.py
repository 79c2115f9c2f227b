import os
import requests

API_KEY = os.environ['AGENTAURI_API_KEY']
BASE_URL = 'https://api.agentauri.ai/api/v1'

headers = {'X-API-Key': API_KEY}

# List triggers
response = requests.get(f'{BASE_URL}/triggers', headers=headers)
triggers = response.json()
